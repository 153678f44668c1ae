// Package media is callbackd's RTP side: a port pool, SDP offer/answer for
// G.711 and RFC 4733 telephone events, prompts, ringback and digit input on
// one call leg, and the relay that joins two legs.
//
// Each Session owns one RTP socket and one RTCP socket and runs one reader
// goroutine per socket for its whole life. Join points those readers at the
// other leg, so a relayed packet is read, checked and rewritten in place and
// written on the other leg's socket by the same goroutine, with no channel,
// lock or allocation in between.
package media
