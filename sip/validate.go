package sip

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidInput marks a number, name or other user-supplied value that must not
// reach a SIP message: it carries CR/LF or characters a header cannot hold safely
// (header injection, GHSA-chcx-pf5f-wxc7). Test with errors.Is.
var ErrInvalidInput = errors.New("invalid input")

const (
	maxNumberLen = 32
	maxNameLen   = 64
)

// ValidateNumber accepts a dialable number: an optional leading '+', then digits,
// '*' and '#', with at least one digit. Anything else (spaces, separators, CR, LF,
// letters, URI syntax) is rejected with ErrInvalidInput.
func ValidateNumber(s string) error {
	if s == "" {
		return fmt.Errorf("number is empty: %w", ErrInvalidInput)
	}
	if len(s) > maxNumberLen {
		return fmt.Errorf("number longer than %d characters: %w", maxNumberLen, ErrInvalidInput)
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '*' || c == '#':
		case c == '+' && i == 0:
		default:
			return fmt.Errorf("number has a non-dialable character at position %d: %w", i, ErrInvalidInput)
		}
	}
	if digits == 0 {
		return fmt.Errorf("number has no digits: %w", ErrInvalidInput)
	}
	return nil
}

// ValidateName accepts a display name: valid UTF-8, printable characters and plain
// spaces only, without quotes or backslashes (the name is written inside a quoted
// string), at most 64 characters. The empty name is valid (no display name).
func ValidateName(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("name is not valid UTF-8: %w", ErrInvalidInput)
	}
	if utf8.RuneCountInString(s) > maxNameLen {
		return fmt.Errorf("name longer than %d characters: %w", maxNameLen, ErrInvalidInput)
	}
	for i, r := range s {
		if r == '"' || r == '\\' || !unicode.IsPrint(r) {
			return fmt.Errorf("name has a forbidden character at byte %d: %w", i, ErrInvalidInput)
		}
	}
	return nil
}

// validateUser checks a SIP URI user part that comes from configuration
// (from_user, username): RFC 3261 unreserved and user-unreserved characters.
func validateUser(s string) error {
	if s == "" {
		return fmt.Errorf("user is empty: %w", ErrInvalidInput)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0 {
			continue
		}
		return fmt.Errorf("user %q has a forbidden character at position %d: %w", s, i, ErrInvalidInput)
	}
	return nil
}

// validateHost checks a host name or IP literal from configuration.
func validateHost(s string) error {
	if s == "" {
		return fmt.Errorf("host is empty: %w", ErrInvalidInput)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']' {
			continue
		}
		return fmt.Errorf("host %q has a forbidden character at position %d: %w", s, i, ErrInvalidInput)
	}
	return nil
}

// validateSecret rejects line breaks and other control characters in a password.
func validateSecret(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return fmt.Errorf("password has a control character: %w", ErrInvalidInput)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// uriUser escapes a validated number for a SIP URI user part: '#' is not allowed
// unescaped there (RFC 3261 25.1).
func uriUser(number string) string {
	if strings.IndexByte(number, '#') < 0 {
		return number
	}
	return strings.ReplaceAll(number, "#", "%23")
}
