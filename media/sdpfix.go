package media

import (
	"bytes"
	"slices"
)

// Line order within a section as RFC 4566 §5 requires it. pion/sdp follows
// the grammar strictly, and real trunks put lines out of order (c= after t=,
// a= before c=; pion/sdp#163), so lines are sorted into this order first.
const (
	sessionOrder = "vosiuepcbtrzka"
	mediaOrder   = "micbka"
)

// tidySDP rewrites an SDP body so that a strict parser accepts what a
// lenient phone would: CRLF or LF, blank lines and trailing blanks ignored,
// lines of unknown types (y=, f=) dropped, each section's lines put into RFC
// order, repeated single lines reduced to the first, and a missing v=, o=,
// s= or t= filled in. Nothing is invented that the relay reads: a missing
// c= or m= stays missing.
func tidySDP(b []byte) string {
	var sess [][]byte
	var media [][][]byte
	for line := range bytes.Lines(b) {
		line = bytes.TrimRight(line, " \t\r\n")
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		switch {
		case line[0] == 'm':
			media = append(media, [][]byte{line})
		case len(media) > 0 && bytes.IndexByte([]byte(mediaOrder), line[0]) > 0:
			media[len(media)-1] = append(media[len(media)-1], line)
		case len(media) == 0 && bytes.IndexByte([]byte(sessionOrder), line[0]) >= 0:
			sess = append(sess, line)
		}
	}
	sess = orderLines(sess, sessionOrder, "vosiuepczk")
	for _, want := range []string{"v=0", "o=- 0 0 IN IP4 0.0.0.0", "s=-", "t=0 0"} {
		if !slices.ContainsFunc(sess, func(l []byte) bool { return l[0] == want[0] }) {
			sess = append(sess, []byte(want))
		}
	}
	sess = orderLines(sess, sessionOrder, "")
	var out bytes.Buffer
	out.Grow(len(b) + 64)
	for _, l := range sess {
		out.Write(l)
		out.WriteString("\r\n")
	}
	for _, m := range media {
		for _, l := range orderLines(m, mediaOrder, "mick") {
			out.Write(l)
			out.WriteString("\r\n")
		}
	}
	return out.String()
}

// orderLines sorts lines stably by their type's place in order and keeps
// only the first line of each type listed in single. t= and r= share a place
// so that repeat times stay behind their t= line.
func orderLines(lines [][]byte, order, single string) [][]byte {
	rank := func(l []byte) int {
		if l[0] == 'r' {
			l = []byte{'t'}
		}
		return bytes.IndexByte([]byte(order), l[0])
	}
	slices.SortStableFunc(lines, func(x, y []byte) int { return rank(x) - rank(y) })
	var seen [128]bool
	out := lines[:0]
	for _, l := range lines {
		if bytes.IndexByte([]byte(single), l[0]) >= 0 {
			if seen[l[0]] {
				continue
			}
			seen[l[0]] = true
		}
		out = append(out, l)
	}
	return out
}
