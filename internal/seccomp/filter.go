package seccomp

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// Insns is a compiled cBPF program. In JSON it is the base64 of the instructions
// as the kernel reads them (struct sock_filter, little-endian: u16 code,
// u8 jt, u8 jf, u32 k): a plan's filter is hundreds of instructions, and
// as objects it was most of the bytes the runtime and its init encode
// and decode on every create. An array of {"Code","Jt","Jf","K"}
// objects, as earlier plans hold, is still read.
type Insns []unix.SockFilter

const insnSize = 8

// MarshalJSON encodes f as base64.
func (f Insns) MarshalJSON() ([]byte, error) {
	raw := make([]byte, len(f)*insnSize)
	for i, in := range f {
		b := raw[i*insnSize:]
		binary.LittleEndian.PutUint16(b, in.Code)
		b[2], b[3] = in.Jt, in.Jf
		binary.LittleEndian.PutUint32(b[4:], in.K)
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(raw))
}

// UnmarshalJSON reads base64, or an array of instruction objects.
func (f *Insns) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		var insns []unix.SockFilter
		if err2 := json.Unmarshal(data, &insns); err2 != nil {
			return fmt.Errorf("seccomp filter: %w", err)
		}
		*f = insns
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("seccomp filter: %w", err)
	}
	if len(raw)%insnSize != 0 {
		return fmt.Errorf("seccomp filter: %d bytes is not a whole number of instructions", len(raw))
	}
	out := make(Insns, len(raw)/insnSize)
	for i := range out {
		b := raw[i*insnSize:]
		out[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])}
	}
	*f = out
	return nil
}
