package testpeer

import (
	"encoding/binary"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The messages we build have the layout of nfnetlink_queue.h, and the
// kernel's messages are parsed, including several in one datagram.
func TestNFQueueMessages(t *testing.T) {
	v := nfqVerdict(7, 0x01020304, nfAccept)
	if len(v) != 32 {
		t.Fatalf("verdict is %d bytes, want 16 header + 4 nfgenmsg + 12 attribute", len(v))
	}
	if n := binary.NativeEndian.Uint32(v[0:]); n != 32 {
		t.Errorf("nlmsg_len %d", n)
	}
	if typ := binary.NativeEndian.Uint16(v[4:]); typ != 3<<8|1 {
		t.Errorf("type %#x, want NFNL_SUBSYS_QUEUE<<8 | NFQNL_MSG_VERDICT", typ)
	}
	if q := binary.BigEndian.Uint16(v[18:]); q != 7 {
		t.Errorf("res_id %d, want the queue number big endian", q)
	}
	if l, typ := binary.NativeEndian.Uint16(v[20:]), binary.NativeEndian.Uint16(v[22:]); l != 12 || typ != nfqaVerdictHdr {
		t.Errorf("attribute len %d type %d", l, typ)
	}
	if verdict, id := binary.BigEndian.Uint32(v[24:]), binary.BigEndian.Uint32(v[28:]); verdict != nfAccept || id != 0x01020304 {
		t.Errorf("verdict %d id %#x", verdict, id)
	}

	// NFQA_CFG_PARAMS is 5 bytes: its length says 9, the next attribute
	// starts at the 4-byte boundary.
	p := nfqConfigParams(2, 1)
	if l := binary.NativeEndian.Uint16(p[20:]); l != 9 {
		t.Errorf("params attribute length %d, want 9", l)
	}
	if typ := binary.NativeEndian.Uint16(p[20+12+2:]); typ != nfqaCfgMaxLen {
		t.Errorf("attribute after params has type %d, want NFQA_CFG_QUEUE_MAXLEN", typ)
	}
	if int(binary.NativeEndian.Uint32(p)) != len(p) || len(p)%4 != 0 {
		t.Errorf("config message length %d in a %d-byte message", binary.NativeEndian.Uint32(p), len(p))
	}

	// A datagram holding a packet message and an error message.
	var hdr [7]byte
	binary.BigEndian.PutUint32(hdr[0:], 42)
	binary.BigEndian.PutUint16(hdr[4:], 0x0800)
	hdr[6] = 1
	attrs := nlAttr(nil, 9, []byte{1, 2, 3}) // an attribute we skip
	attrs = nlAttr(attrs, nfqaPacketHdr, hdr[:])
	pkt := nfqMessage(nfqnlMsgPacket, 0, 0, 1, attrs)
	errMsg := make([]byte, 16+4+16)
	binary.NativeEndian.PutUint32(errMsg[0:], uint32(len(errMsg)))
	binary.NativeEndian.PutUint16(errMsg[4:], unix.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(errMsg[8:], 5)
	binary.NativeEndian.PutUint32(errMsg[16:], uint32(0xffffffff-uint32(syscall.EBUSY)+1))
	msgs, err := parseNetlink(append(pkt, errMsg...))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || !msgs[0].hasID || msgs[0].packetID != 42 {
		t.Fatalf("parsed %+v, want packet 42 then an error", msgs)
	}
	if msgs[1].typ != unix.NLMSG_ERROR || msgs[1].seq != 5 || msgs[1].errno != syscall.EBUSY {
		t.Errorf("error message parsed as %+v, want EBUSY for seq 5", msgs[1])
	}

	// Truncated or inconsistent datagrams are errors, never a panic.
	for _, bad := range [][]byte{pkt[:10], pkt[:len(pkt)-3], errMsg[:18]} {
		if _, err := parseNetlink(bad); err == nil {
			t.Errorf("parseNetlink(%d bytes) succeeded", len(bad))
		}
	}
	broken := append([]byte(nil), pkt...)
	binary.NativeEndian.PutUint16(broken[20:], 200) // attribute longer than the message
	if _, err := parseNetlink(broken); err == nil {
		t.Errorf("attribute overrunning its message accepted")
	}
}

func FuzzParseNetlink(f *testing.F) {
	f.Add(nfqVerdict(1, 2, nfDrop))
	f.Add(nfqConfigParams(1, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseNetlink(b)
	})
}
