package media

import "errors"

var (
	// ErrPoolExhausted means every port pair is in use or still held after
	// its last call.
	ErrPoolExhausted = errors.New("media: port pool exhausted")
	// ErrBadSDP means the far end's SDP could not be parsed or makes no sense
	// (no audio line, bad address). SIP answers 488 to an offer like that.
	ErrBadSDP = errors.New("media: bad SDP")
	// ErrNoCommonCodec means the far end's SDP shares no codec with ours, or
	// rejected the audio stream.
	ErrNoCommonCodec = errors.New("media: no common codec")
	// ErrMediaTimeout ends a relay when no RTP arrived from either leg for
	// Config.MediaTimeout.
	ErrMediaTimeout = errors.New("media: media timeout")
	// ErrClosed is returned by a closed session, or a pool after Close.
	ErrClosed = errors.New("media: closed")
)
