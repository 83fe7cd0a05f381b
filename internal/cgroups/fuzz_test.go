package cgroups

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var fuzzModes = []Mode{ModeV1, ModeHybrid, ModeV2}

// FuzzConvertResources feeds arbitrary linux.resources JSON to
// convertResources for every host mode: no panic; a refusal is a
// *FieldError naming a linux.resources field and wrapping ErrInvalid; an
// acceptance keeps the values the kernel would refuse out.
// Seeds live in testdata/fuzz/FuzzConvertResources.
func FuzzConvertResources(f *testing.F) {
	f.Add([]byte(`{"memory":{"limit":1048576,"swap":2097152},"pids":{"limit":10}}`), uint8(0), true)
	f.Fuzz(func(t *testing.T, data []byte, sel uint8, withDevices bool) {
		var r *specs.LinuxResources
		if err := json.Unmarshal(data, &r); err != nil {
			return
		}
		mode := fuzzModes[int(sel)%len(fuzzModes)]
		out, err := convertResources(r, mode, withDevices)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %q (%T) is not a *FieldError wrapping ErrInvalid", err, err)
			}
			if !strings.HasPrefix(fe.Field, "linux.resources.") || fe.Msg == "" {
				t.Fatalf("error %q does not name a linux.resources field", err)
			}
			return
		}
		lib := out.lib
		if withDevices == lib.SkipDevices {
			t.Fatalf("withDevices %v but SkipDevices %v", withDevices, lib.SkipDevices)
		}
		if withDevices && (len(lib.Devices) < 1+len(DefaultDevices) || lib.Devices[0].Allow) {
			t.Fatalf("device list does not start with deny-all and end with the defaults: %d rules", len(lib.Devices))
		}
		if lib.Memory < -1 || lib.MemorySwap < -1 || lib.MemoryReservation < -1 {
			t.Fatalf("accepted memory %d swap %d reservation %d", lib.Memory, lib.MemorySwap, lib.MemoryReservation)
		}
		if lib.MemorySwap > 0 && lib.Memory > 0 && lib.MemorySwap < lib.Memory {
			t.Fatalf("accepted memory+swap %d below memory %d", lib.MemorySwap, lib.Memory)
		}
		if lib.CpuQuota < -1 {
			t.Fatalf("accepted cpu quota %d", lib.CpuQuota)
		}
		if mode == ModeV1 && len(lib.Unified) > 0 {
			t.Fatalf("accepted unified on v1")
		}
		for k := range lib.Unified {
			if strings.ContainsAny(k, "/\x00") || checkUnifiedKey(k) != nil {
				t.Fatalf("accepted unified key %q", k)
			}
		}
		for _, h := range lib.HugetlbLimit {
			if !hugepageSize.MatchString(h.Pagesize) {
				t.Fatalf("accepted hugepage size %q", h.Pagesize)
			}
		}
		for _, s := range []string{lib.CpusetCpus, lib.CpusetMems} {
			if s != "" && checkCPUList(s) != nil {
				t.Fatalf("accepted cpu list %q", s)
			}
		}
		for dev := range lib.Rdma {
			if dev == "" || strings.ContainsAny(dev, " \t\n") {
				t.Fatalf("accepted rdma device %q", dev)
			}
		}
	})
}
