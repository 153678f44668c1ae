package engine

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// maxNumberLen bounds the raw input given to libphonenumber.
const maxNumberLen = 64

// compact drops the separators people write in numbers.
func compact(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r), r == '-', r == '.', r == '(', r == ')', r == '/':
			return -1
		}
		return r
	}, s)
}

// phone is a normalised number: E.164, and libphonenumber's reading of it
// unless it is one of the configured test numbers.
type phone struct {
	e164 string
	pn   *phonenumbers.PhoneNumber // nil for a test number
}

// normalise turns raw, in E.164 or national form with country (ISO 3166
// alpha-2), into E.164. It requires a number libphonenumber deems valid,
// except for the test numbers. field and countryField name the inputs in
// errors.
func (e *Engine) normalise(field, raw, countryField, country string) (phone, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return phone{}, fieldErr(field, CodeInvalidNumber, "required")
	}
	if len(raw) > maxNumberLen {
		return phone{}, fieldErr(field, CodeInvalidNumber, "too long to be a phone number")
	}
	if n, ok := e.tests[compact(raw)]; ok {
		return phone{e164: n}, nil
	}
	region := "ZZ" // unknown: the number must carry its country code
	if country != "" {
		c := strings.ToUpper(strings.TrimSpace(country))
		if phonenumbers.GetCountryCodeForRegion(c) == 0 {
			return phone{}, fieldErr(countryField, CodeInvalidField, fmt.Sprintf("%q is not an ISO 3166 alpha-2 country code with phone numbers", country))
		}
		region = c
	}
	if !strings.HasPrefix(compact(raw), "+") && region == "ZZ" {
		if countryField == "" {
			return phone{}, fieldErr(field, CodeInvalidNumber, "must be in E.164 form, such as +442079460123")
		}
		return phone{}, fieldErr(countryField, CodeInvalidField, "required for a national number; or write the number in E.164 form, such as +442079460123")
	}
	pn, err := phonenumbers.Parse(raw, region)
	if err != nil {
		return phone{}, fieldErr(field, CodeInvalidNumber, "not a phone number: "+err.Error())
	}
	if pn.GetExtension() != "" {
		return phone{}, fieldErr(field, CodeInvalidNumber, "extensions cannot be dialled")
	}
	if !phonenumbers.IsValidNumber(pn) {
		return phone{}, fieldErr(field, CodeInvalidNumber, "not a valid phone number")
	}
	return phone{e164: phonenumbers.Format(pn, phonenumbers.E164), pn: pn}, nil
}

// guard applies the destination guardrails to a number about to be
// called: denied prefixes and premium-rate numbers first, then the allow
// list (configured, or the teams' calling codes). Test numbers pass.
func (e *Engine) guard(field string, p phone) error {
	if p.pn == nil {
		return nil
	}
	if err := e.denied(field, p); err != nil {
		return err
	}
	allow, err := e.allowList()
	if err != nil {
		return err
	}
	for _, a := range allow {
		if strings.HasPrefix(p.e164, a) {
			return nil
		}
	}
	if len(e.allow) == 0 {
		return fieldErr(field, CodeDestinationNotAllowed, fmt.Sprintf("only numbers in the countries of the teams' reps are called (%s); configure guardrails.allow for others", strings.Join(allow, ", ")))
	}
	return fieldErr(field, CodeDestinationNotAllowed, "the number is not in an allowed country or prefix")
}

// denied applies the deny list and libphonenumber's premium-rate type.
// Reps are checked by it alone: the allow list does not apply to them,
// since by default it is made from their numbers.
func (e *Engine) denied(field string, p phone) error {
	if p.pn == nil {
		return nil
	}
	for _, d := range e.deny {
		if strings.HasPrefix(p.e164, d) {
			return fieldErr(field, CodePremiumRate, fmt.Sprintf("numbers starting %s are not called", d))
		}
	}
	if phonenumbers.GetNumberType(p.pn) == phonenumbers.PREMIUM_RATE {
		return fieldErr(field, CodePremiumRate, "premium-rate numbers are not called")
	}
	return nil
}

// allowList returns the allowed prefixes: the configured ones, or the
// calling codes of all teams' reps, cached until a team changes.
func (e *Engine) allowList() ([]string, error) {
	if len(e.allow) > 0 {
		return e.allow, nil
	}
	e.mu.Lock()
	cached, gen := e.teamAllow, e.teamGen
	e.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	teams, err := e.st.ListTeams()
	if err != nil {
		return nil, fmt.Errorf("engine: listing teams for the allow list: %w", err)
	}
	seen := map[string]bool{}
	list := []string{}
	for _, t := range teams {
		for _, r := range t.Reps {
			pn, err := phonenumbers.Parse(r.Number, "ZZ")
			if err != nil || pn.GetCountryCode() == 0 {
				continue
			}
			p := fmt.Sprintf("+%d", pn.GetCountryCode())
			if !seen[p] {
				seen[p] = true
				list = append(list, p)
			}
		}
	}
	e.mu.Lock()
	if e.teamGen == gen { // no team changed while we read them
		e.teamAllow = list
	}
	e.mu.Unlock()
	return list, nil
}

// teamsChanged drops the cached allow list.
func (e *Engine) teamsChanged() {
	e.mu.Lock()
	e.teamAllow = nil
	e.teamGen++
	e.mu.Unlock()
}
