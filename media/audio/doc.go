// Package audio holds the pure audio helpers callbackd needs on the media path:
// G.711 mu-law and A-law conversion, a small WAV loader for prompts, 20 ms
// framing, generated tones and ringback, and the RFC 4733 telephone-event
// payload. It does no I/O beyond reading a WAV and knows nothing about RTP
// sessions or SIP.
//
// Everything here works at 8 kHz, mono, because that is what G.711 carries
// and what every trunk accepts; converting other material is left to tools
// such as sox at build time rather than resampling at run time.
package audio
