package sip

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Our 200 to a re-INVITE over UDP is resent until the far end's ACK comes
// (RFC 3261 13.3.1.4); without any ACK the call is ended with BYE.
func TestReinvite2xxRetransmission(t *testing.T) {
	t.Parallel()
	const hold = "v=0\r\no=- 1 2 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"
	ok200 := func(cseq int) func(received) bool {
		return func(r received) bool {
			res, ok := r.msg.(*sip.Response)
			return ok && res.StatusCode == 200 && res.CSeq().SeqNo == uint32(cseq) && res.CSeq().MethodName == sip.INVITE
		}
	}
	t.Run("until ACK", func(t *testing.T) {
		t.Parallel()
		f := setupFake(t, Config{}, TrunkConfig{}, nil)
		f.ua.timerScale = 0.1 // T1 50 ms
		leg, inv, tag := answeredFake(t, f, f.request("1001"))
		f.peer.send(inDialog(inv, tag, f.peer.addr, "INVITE", 10, hold), f.ua.LocalAddr())
		f.peer.next(2*time.Second, "200 to the re-INVITE", ok200(10))
		f.peer.next(2*time.Second, "retransmitted 200", ok200(10))
		f.peer.send(inDialog(inv, tag, f.peer.addr, "ACK", 10, ""), f.ua.LocalAddr())
		time.Sleep(100 * time.Millisecond) // a retransmission may be in flight
		f.peer.none(time.Second, "200 after the ACK", ok200(10))
		select {
		case <-leg.Done():
			t.Fatalf("leg ended (%s) although the ACK came", leg.HangupCause())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		leg.Hangup(ctx)
	})
	t.Run("no ACK", func(t *testing.T) {
		t.Parallel()
		f := setupFake(t, Config{}, TrunkConfig{}, nil)
		f.ua.timerScale = 0.02 // 64*T1 = 640 ms
		leg, inv, tag := answeredFake(t, f, f.request("1001"))
		f.peer.send(inDialog(inv, tag, f.peer.addr, "INVITE", 10, hold), f.ua.LocalAddr())
		f.peer.next(3*time.Second, "BYE after the unacknowledged 200", isRequest(sip.BYE))
		select {
		case <-leg.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("leg still up")
		}
		if c := leg.HangupCause(); c != CauseNoAck {
			t.Errorf("cause %q, want %q", c, CauseNoAck)
		}
	})
}
