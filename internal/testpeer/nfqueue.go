package testpeer

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A minimal NFQUEUE client (nfnetlink_queue, no libnetfilter_queue): it binds
// one queue, receives each queued packet's metadata (copy mode META: the
// packet id, not its bytes), drops it with a given probability and accepts
// the others after a delay. It stands in for netem where the kernel has no
// sch_netem: iptables sends the packets with -j NFQUEUE --queue-num N
// --queue-bypass, and this client holds each one for the delay before its
// NF_ACCEPT verdict. Verdicts may be given in any order, by packet id.
//
// A queued packet has already left its sender, so a drop verdict is as
// silent as a lossy link. An iptables DROP in OUTPUT is not: the sender's
// sendto fails with EPERM (SIPp then gives up its RTP stream).
//
// Wire format (include/uapi/linux/netfilter/nfnetlink_queue.h): each message
// is an nlmsghdr, an nfgenmsg whose res_id is the queue number (big endian),
// then netlink attributes whose payloads are big endian.

// Netlink and nfnetlink_queue constants; the netfilter ones are not in x/sys.
const (
	nfnlSubsysQueue = 3 // NFNL_SUBSYS_QUEUE
	nfqnlMsgPacket  = 0 // NFQNL_MSG_PACKET: kernel → us, one queued packet
	nfqnlMsgVerdict = 1 // NFQNL_MSG_VERDICT
	nfqnlMsgConfig  = 2 // NFQNL_MSG_CONFIG

	nfqaPacketHdr  = 1 // NFQA_PACKET_HDR: packet_id u32, hw_protocol u16, hook u8
	nfqaVerdictHdr = 2 // NFQA_VERDICT_HDR: verdict u32, id u32

	nfqaCfgCmd    = 1 // NFQA_CFG_CMD: command u8, pad u8, pf u16
	nfqaCfgParams = 2 // NFQA_CFG_PARAMS: copy_range u32, copy_mode u8
	nfqaCfgMaxLen = 3 // NFQA_CFG_QUEUE_MAXLEN: u32
	nfqaCfgMask   = 4 // NFQA_CFG_MASK: u32
	nfqaCfgFlags  = 5 // NFQA_CFG_FLAGS: u32

	nfqnlCfgCmdBind   = 1 // NFQNL_CFG_CMD_BIND
	nfqnlCfgCmdUnbind = 2 // NFQNL_CFG_CMD_UNBIND
	nfqnlCopyMeta     = 1 // NFQNL_COPY_META
	nfqaCfgFFailOpen  = 1 // NFQA_CFG_F_FAIL_OPEN: accept, not drop, when the queue is full

	nfDrop   = 0 // NF_DROP
	nfAccept = 1 // NF_ACCEPT

	nlmsgHdrLen  = 16
	nfgenMsgLen  = 4
	nlaHdrLen    = 4
	nlaTypeMask  = 0x3fff // NLA_TYPE_MASK: without the nested and byte-order flags
	nfqMaxLen    = 4096   // packets the kernel may hold for us
	nfqRecvBuf   = 1 << 20
	nfqReadChunk = 1 << 16
)

func nlAlign(n int) int { return (n + 3) &^ 3 }

// nlAttr appends one netlink attribute.
func nlAttr(b []byte, typ uint16, payload []byte) []byte {
	var h [nlaHdrLen]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(nlaHdrLen+len(payload)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	b = append(b, h[:]...)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// nfqMessage builds one nfnetlink_queue message for queue num.
func nfqMessage(msgType uint16, flags uint16, seq uint32, num uint16, attrs []byte) []byte {
	b := make([]byte, nlmsgHdrLen+nfgenMsgLen, nlmsgHdrLen+nfgenMsgLen+len(attrs))
	binary.NativeEndian.PutUint16(b[4:], nfnlSubsysQueue<<8|msgType)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	// b[12:16] port id 0: the kernel fills ours in.
	b[16] = unix.AF_UNSPEC
	b[17] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:], num)
	b = append(b, attrs...)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	return b
}

// nfqVerdict is the message that gives packet id on queue num its verdict
// (nfAccept, nfDrop).
func nfqVerdict(num uint16, id uint32, verdict uint32) []byte {
	var v [8]byte
	binary.BigEndian.PutUint32(v[0:], verdict)
	binary.BigEndian.PutUint32(v[4:], id)
	return nfqMessage(nfqnlMsgVerdict, unix.NLM_F_REQUEST, 0, num, nlAttr(nil, nfqaVerdictHdr, v[:]))
}

// nfqConfigCmd is a BIND or UNBIND command for queue num.
func nfqConfigCmd(seq uint32, num uint16, cmd byte) []byte {
	return nfqMessage(nfqnlMsgConfig, unix.NLM_F_REQUEST|unix.NLM_F_ACK, seq, num,
		nlAttr(nil, nfqaCfgCmd, []byte{cmd, 0, 0, 0}))
}

// nfqConfigParams asks for metadata only, a longer queue and fail-open.
func nfqConfigParams(seq uint32, num uint16) []byte {
	var a []byte
	a = nlAttr(a, nfqaCfgParams, []byte{0, 0, 0, 0, nfqnlCopyMeta})
	a = nlAttr(a, nfqaCfgMaxLen, binary.BigEndian.AppendUint32(nil, nfqMaxLen))
	a = nlAttr(a, nfqaCfgMask, binary.BigEndian.AppendUint32(nil, nfqaCfgFFailOpen))
	a = nlAttr(a, nfqaCfgFlags, binary.BigEndian.AppendUint32(nil, nfqaCfgFFailOpen))
	return nfqMessage(nfqnlMsgConfig, unix.NLM_F_REQUEST|unix.NLM_F_ACK, seq, num, a)
}

// nlMessage is one parsed netlink message from the kernel.
type nlMessage struct {
	typ      uint16
	seq      uint32
	packetID uint32 // NFQNL_MSG_PACKET: the id to give a verdict for
	hasID    bool
	errno    syscall.Errno // NLMSG_ERROR: 0 is an acknowledgement
}

// parseNetlink splits a datagram from the socket into messages. A malformed
// datagram is an error: the kernel never sends one.
func parseNetlink(b []byte) ([]nlMessage, error) {
	var msgs []nlMessage
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return msgs, fmt.Errorf("netlink: %d trailing bytes", len(b))
		}
		n := int(binary.NativeEndian.Uint32(b[0:]))
		if n < nlmsgHdrLen || n > len(b) {
			return msgs, fmt.Errorf("netlink: message length %d of %d bytes", n, len(b))
		}
		m := nlMessage{typ: binary.NativeEndian.Uint16(b[4:]), seq: binary.NativeEndian.Uint32(b[8:])}
		body := b[nlmsgHdrLen:n]
		switch {
		case m.typ == unix.NLMSG_ERROR:
			if len(body) < 4 {
				return msgs, fmt.Errorf("netlink: short error message")
			}
			m.errno = syscall.Errno(-int32(binary.NativeEndian.Uint32(body)))
		case m.typ == nfnlSubsysQueue<<8|nfqnlMsgPacket:
			if len(body) < nfgenMsgLen {
				return msgs, fmt.Errorf("netlink: short packet message")
			}
			attrs := body[nfgenMsgLen:]
			for len(attrs) >= nlaHdrLen {
				l := int(binary.NativeEndian.Uint16(attrs[0:]))
				typ := binary.NativeEndian.Uint16(attrs[2:]) & nlaTypeMask
				if l < nlaHdrLen || l > len(attrs) {
					return msgs, fmt.Errorf("netlink: attribute length %d of %d bytes", l, len(attrs))
				}
				if typ == nfqaPacketHdr && l >= nlaHdrLen+4 {
					m.packetID = binary.BigEndian.Uint32(attrs[nlaHdrLen:])
					m.hasID = true
				}
				attrs = attrs[min(nlAlign(l), len(attrs)):]
			}
		}
		msgs = append(msgs, m)
		b = b[min(nlAlign(n), len(b)):]
	}
	return msgs, nil
}

// impairment is what a queue does to each packet: drop it with probability
// Loss, else hold it for Delay ± a uniform Jitter.
type impairment struct {
	Loss          float64
	Delay, Jitter time.Duration
}

// nfQueue impairs the packets of one NFQUEUE queue.
type nfQueue struct {
	num uint16
	imp impairment

	f  *os.File // the netlink socket, non-blocking, on Go's poller
	rc syscall.RawConn

	mu      sync.Mutex // serialises writes to the socket
	in      chan heldPacket
	stop    chan struct{}
	readErr error // why the reader ended early, valid after readEnd
	readEnd chan struct{}
	schedOK chan struct{}

	received, accepted, dropped, failed atomic.Uint64
	held                                atomic.Int64 // nanoseconds, summed over accepted packets
	closeOnce                           sync.Once
}

type heldPacket struct {
	id       uint32
	received time.Time
	due      time.Time
	seq      uint64
}

// openNFQueue binds queue num in the network namespace at nsPath (a file
// under /var/run/netns) and starts impairing its packets.
func openNFQueue(nsPath string, num uint16, imp impairment) (*nfQueue, error) {
	fd, err := netlinkSocketIn(nsPath)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("nfqueue %d", num))
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("nfqueue %d: %w", num, err)
	}
	q := &nfQueue{num: num, imp: imp, f: f, rc: rc,
		in: make(chan heldPacket, nfqMaxLen), stop: make(chan struct{}),
		readEnd: make(chan struct{}), schedOK: make(chan struct{})}
	// Bind, then configure; each is acknowledged (or refused) at once.
	if err := q.request(nfqConfigCmd(1, num, nfqnlCfgCmdBind), 1); err != nil {
		f.Close()
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("nfqueue %d: bind: %w (another client holds this queue)", num, err)
		}
		return nil, fmt.Errorf("nfqueue %d: bind: %w (kernel without nfnetlink_queue?)", num, err)
	}
	if err := q.request(nfqConfigParams(2, num), 2); err != nil {
		f.Close()
		return nil, fmt.Errorf("nfqueue %d: configure: %w", num, err)
	}
	go q.read()
	go q.schedule()
	return q, nil
}

// netlinkSocketIn creates a NETLINK_NETFILTER socket in the namespace at
// nsPath. A netlink socket belongs to the namespace of the thread that
// creates it, hence inNetNS; it can be used from any thread afterwards.
func netlinkSocketIn(nsPath string) (int, error) {
	fd := -1
	err := inNetNS(nsPath, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
		if err != nil {
			fd = -1
			return fmt.Errorf("netlink socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("bind netlink socket: %w", err)
		}
		// A burst must not overflow the socket; if it still does, the
		// kernel is not to report ENOBUFS (the queue goes on).
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, nfqRecvBuf)
		_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
		return nil
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("nfqueue: %w", err)
	}
	return fd, nil
}

// send writes one message to the kernel.
func (q *nfQueue) send(msg []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	var err error
	werr := q.rc.Write(func(fd uintptr) bool {
		err = unix.Sendto(int(fd), msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return err != unix.EAGAIN
	})
	if werr != nil {
		return werr
	}
	return err
}

// recv reads one datagram, waiting on the poller (until the file's read
// deadline, if set).
func (q *nfQueue) recv(buf []byte) (int, error) {
	var n int
	var err error
	rerr := q.rc.Read(func(fd uintptr) bool {
		n, _, err = unix.Recvfrom(int(fd), buf, 0)
		return err != unix.EAGAIN
	})
	if rerr != nil {
		return 0, rerr
	}
	return n, err
}

// request sends a config message and waits for its acknowledgement. Only
// used before the reader starts.
func (q *nfQueue) request(msg []byte, seq uint32) error {
	if err := q.send(msg); err != nil {
		return err
	}
	_ = q.f.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer q.f.SetReadDeadline(time.Time{})
	buf := make([]byte, nfqReadChunk)
	for {
		n, err := q.recv(buf)
		if err != nil {
			return fmt.Errorf("waiting for the kernel's answer: %w", err)
		}
		msgs, err := parseNetlink(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.typ == unix.NLMSG_ERROR && m.seq == seq {
				if m.errno != 0 {
					return m.errno
				}
				return nil
			}
		}
	}
}

// read receives queued packets and hands them to the scheduler.
func (q *nfQueue) read() {
	defer close(q.readEnd)
	buf := make([]byte, nfqReadChunk)
	for {
		n, err := q.recv(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
				return
			}
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EINTR) {
				continue
			}
			q.readErr = err
			return
		}
		now := time.Now()
		msgs, err := parseNetlink(buf[:n])
		if err != nil {
			q.readErr = err
			return
		}
		for _, m := range msgs {
			switch {
			case m.hasID:
				q.received.Add(1)
				if q.imp.Loss > 0 && rand.Float64() < q.imp.Loss {
					if err := q.send(nfqVerdict(q.num, m.packetID, nfDrop)); err != nil {
						q.failed.Add(1)
					} else {
						q.dropped.Add(1)
					}
					continue
				}
				due := now.Add(q.imp.Delay)
				if j := q.imp.Jitter; j > 0 {
					due = due.Add(time.Duration(rand.Int64N(int64(2*j+1))) - j)
				}
				q.in <- heldPacket{id: m.packetID, received: now, due: due}
			case m.typ == unix.NLMSG_ERROR && m.errno != 0:
				// A verdict the kernel refused (e.g. an id it no longer holds).
				q.failed.Add(1)
			}
		}
	}
}

// packetHeap orders held packets by due time, then arrival.
type packetHeap []heldPacket

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(heldPacket)) }
func (h *packetHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// schedule accepts each packet when it is due. On stop it accepts all the
// packets it still holds at once, so that none is lost at teardown.
func (q *nfQueue) schedule() {
	defer close(q.schedOK)
	var h packetHeap
	var seq uint64
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	accept := func(p heldPacket) {
		if err := q.send(nfqVerdict(q.num, p.id, nfAccept)); err != nil {
			q.failed.Add(1)
			return
		}
		q.accepted.Add(1)
		q.held.Add(int64(time.Since(p.received)))
	}
	for {
		var wake <-chan time.Time
		if len(h) > 0 {
			timer.Reset(time.Until(h[0].due))
			wake = timer.C
		}
		select {
		case p := <-q.in:
			seq++
			p.seq = seq
			heap.Push(&h, p)
		case <-wake:
		case <-q.stop:
		drain:
			for {
				select {
				case p := <-q.in:
					heap.Push(&h, p)
				default:
					break drain
				}
			}
			for len(h) > 0 {
				accept(heap.Pop(&h).(heldPacket))
			}
			return
		}
		now := time.Now()
		for len(h) > 0 && !h[0].due.After(now) {
			accept(heap.Pop(&h).(heldPacket))
		}
	}
}

// close stops receiving, accepts every packet still held, unbinds the queue
// and closes the socket. Packets queued afterwards pass (--queue-bypass).
// It returns why the reader ended early, if it did.
func (q *nfQueue) close() error {
	q.closeOnce.Do(func() {
		_ = q.f.SetReadDeadline(time.Now())
		<-q.readEnd
		close(q.stop)
		<-q.schedOK
		_ = q.send(nfqConfigCmd(3, q.num, nfqnlCfgCmdUnbind))
		q.f.Close()
	})
	return q.readErr
}

// nfQueueStats are one queue's counters.
type nfQueueStats struct {
	Received, Accepted, Dropped, Failed uint64
	MeanHold                            time.Duration
}

func (q *nfQueue) stats() nfQueueStats {
	s := nfQueueStats{Received: q.received.Load(), Accepted: q.accepted.Load(),
		Dropped: q.dropped.Load(), Failed: q.failed.Load()}
	if s.Accepted > 0 {
		s.MeanHold = time.Duration(q.held.Load() / int64(s.Accepted))
	}
	return s
}
