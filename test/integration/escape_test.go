package integration

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/seccomp"
	"github.com/tirith-project/tirith/internal/spec"
)

// Escapes (issue #7): test/attack tries every known escape and privilege
// technique it has from inside a container and reports, per technique,
// whether it was blocked, on evidence. Under Tirith's defaults every one
// must be blocked. Each wall is then turned off in config.json in turn,
// and a representative technique of that wall must get through, so the
// suite can fail. runc's `runc spec` default runs the same attack for
// comparison (logged, never asserted). TIRITH_SECURITY_TABLE=1 prints
// SECURITY.md's table.

// escapeWalls says which walls stop a technique under Tirith's defaults.
var escapeWalls = map[string]string{
	"inherited_fd_outside_rootfs":   "runtime (fds closed before exec)",
	"cwd_outside_rootfs":            "runtime (cwd resolved in the root)",
	"shocker_open_by_handle_at":     "2, 3",
	"mount_tmpfs":                   "2, 3, 4",
	"mount_proc":                    "2, 3, 4",
	"mount_sysfs":                   "2, 3, 4",
	"remount_root_rw":               "2, 3, 4, 7",
	"rootfs_write":                  "4, 7",
	"remount_proc_sys_rw":           "2, 3, 4, 7",
	"umount_masked_path":            "2, 3, 4, 7",
	"cgroup_v1_release_agent":       "2, 3, 4, 5 (cgroup ns)",
	"cgroupfs_write_limits":         "7 (ro cgroupfs), 4",
	"core_pattern_write":            "7 (ro /proc/sys), 4, 1",
	"sysrq_trigger_open":            "7 (ro), 4, 1",
	"uevent_helper_open":            "7 (ro sysfs), 4",
	"sysfs_write_open":              "7 (ro sysfs), 4",
	"proc_kcore_read":               "7 (masked), 2",
	"proc_keys_read":                "7 (masked)",
	"proc_kallsyms_addresses":       "7 (masked), 2",
	"proc_timer_list_read":          "7 (masked)",
	"sys_firmware_read":             "7 (masked)",
	"dmesg_syslog_read":             "2, 3",
	"mknod_block_device":            "2, 6, 4",
	"dev_mem_open":                  "2, 6, 4",
	"ptrace_attach_sibling":         "2, 3",
	"ptrace_attach_host_process":    "5, 2, 3",
	"process_vm_readv_sibling":      "2, 3",
	"keyctl_add_key":                "3",
	"bpf_prog_load":                 "3, 2",
	"perf_event_open":               "3",
	"userfaultfd":                   "3",
	"io_uring_setup":                "3",
	"kexec_load":                    "3, 2",
	"init_module":                   "3, 2",
	"finit_module":                  "3, 2",
	"unshare_user_then_mount":       "3, 4",
	"unshare_mount_ns":              "3, 2",
	"unshare_net_ns":                "3, 2",
	"setns_net_pid1_or_host":        "5, 3, 2",
	"setns_uts_pid1_or_host":        "5, 3, 2",
	"setns_cgroup_pid1_or_host":     "5, 3, 2",
	"proc_pid1_root_escape":         "5, 2",
	"raw_socket_packet":             "2",
	"raw_socket_inet_icmp":          "2",
	"proc_self_exe_write":           "kernel (ETXTBSY), 7",
	"proc_pid1_exe_write":           "kernel (ETXTBSY), 7",
	"exec_dropped_binary":           "4, 7 (noexec tmpfs)",
	"setuid_root_escalation":        "2 (no_new_privs)",
	"host_secret_read":              "1",
	"host_process_visible":          "5",
	"kill_host_process":             "5",
	"host_abstract_unix_socket":     "5 (net ns), 4 (scope)",
	"sethostname_host":              "5, 2, 3",
	"chroot_escape":                 "5 (pivot_root into the mount ns)",
	"netlink_link_add":              "2, 5 (own net ns)",
	"clock_settime":                 "2, 3",
	"settimeofday_tz":               "2, 3",
	"reboot_cad":                    "2, 3, 5",
	"swapon":                        "2, 3",
	"acct":                          "2, 3",
	"quotactl_quotaon":              "3, 7, 2",
	"ioperm":                        "2, 3",
	"iopl":                          "2, 3",
	"personality_read_implies_exec": "3",
	"fsopen_new_mount_api":          "3, 2",
	"open_tree_clone":               "3, 2",
	"pivot_root":                    "2, 3",
	"rlimit_raise_hard":             "2",
}

// escapeRuns collects results for the SECURITY.md table.
var escapeRuns = struct {
	sync.Mutex
	tirith, tirithUserNS, runc *attackReport
	shownBy                    map[string][]string // technique -> wall-off tests where it got through
}{shownBy: map[string][]string{}}

// wallOff is one relaxation of the default spec and what must then get
// through.
type wallOff struct {
	name    string
	opts    attackOpts
	mutate  func(*specs.Spec)
	through []string // each must be reported NOT blocked
	held    []string // control: still blocked under this relaxation
	// allBut: every technique must get through except these (reason
	// given) and those absent from this kernel.
	allBut map[string]string
}

func escapeWallOffs() []wallOff {
	capsWith := func(extra ...string) []string {
		return append(append([]string(nil), spec.DefaultCapabilities...), extra...)
	}
	return []wallOff{
		{name: "1-identity-no-userns", opts: attackOpts{secret: true},
			through: []string{"host_secret_read"}},
		{name: "2-privileges-no-new-privs-off", mutate: func(s *specs.Spec) { s.Process.NoNewPrivileges = false },
			through: []string{"setuid_root_escalation"}},
		// Every capability, but the default filter (built for the default
		// set): what only capabilities stop gets through.
		{name: "2-privileges-all-caps", mutate: func(s *specs.Spec) { escSetCaps(s, escAllCaps()) },
			through: []string{"raw_socket_packet", "raw_socket_inet_icmp", "netlink_link_add"},
			held:    []string{"mount_tmpfs", "shocker_open_by_handle_at", "bpf_prog_load", "unshare_mount_ns"}},
		{name: "3-syscalls-no-seccomp", mutate: func(s *specs.Spec) { s.Linux.Seccomp = nil },
			through: []string{"personality_read_implies_exec", "userfaultfd", "io_uring_setup", "perf_event_open", "keyctl_add_key",
				"ptrace_attach_sibling", "process_vm_readv_sibling"},
			held: []string{"mount_tmpfs", "raw_socket_packet"}},
		{name: "4-landlock-off", mutate: escNoLandlock,
			through: []string{"exec_dropped_binary"}},
		{name: "5-namespaces-no-pid-ns", mutate: func(s *specs.Spec) { withoutNS(s, specs.PIDNamespace) },
			through: []string{"host_process_visible", "kill_host_process"},
			held:    []string{"ptrace_attach_host_process", "proc_pid1_root_escape"}},
		{name: "5-namespaces-no-net-ns-no-landlock", mutate: func(s *specs.Spec) { withoutNS(s, specs.NetworkNamespace); escNoLandlock(s) },
			through: []string{"host_abstract_unix_socket"}},
		// Device nodes: CAP_MKNOD and no Landlock, so only the device
		// cgroup stands (held); then the cgroup allows everything.
		{name: "6-resources-mknod-device-cgroup-holds", mutate: func(s *specs.Spec) {
			caps := capsWith("CAP_MKNOD")
			escSetCaps(s, caps)
			s.Linux.Seccomp = seccomp.Default(caps)
			escNoLandlock(s)
		}, held: []string{"mknod_block_device"}},
		{name: "6-resources-all-devices", mutate: func(s *specs.Spec) {
			caps := capsWith("CAP_MKNOD")
			escSetCaps(s, caps)
			s.Linux.Seccomp = seccomp.Default(caps)
			escNoLandlock(s)
			s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		}, through: []string{"mknod_block_device"}},
		{name: "7-filesystem-unmasked", mutate: func(s *specs.Spec) { s.Linux.MaskedPaths = nil },
			through: []string{"proc_timer_list_read", "sys_firmware_read", "proc_keys_read"}},
		{name: "7-filesystem-writable-no-landlock", mutate: func(s *specs.Spec) {
			s.Linux.ReadonlyPaths = nil
			s.Root.Readonly = false
			escNoLandlock(s)
		}, through: []string{"core_pattern_write", "rootfs_write"}},
		// Capabilities and filter off, Landlock on: what Landlock alone
		// still stops (it refuses every mount change).
		{name: "2+3-caps-and-seccomp-off", mutate: func(s *specs.Spec) {
			escSetCaps(s, escAllCaps())
			s.Linux.Seccomp = nil
		}, through: []string{"shocker_open_by_handle_at", "dmesg_syslog_read", "bpf_prog_load", "unshare_mount_ns",
			"fsopen_new_mount_api", "open_tree_clone", "clock_settime", "swapon", "acct", "pivot_root"},
			held: []string{"mount_tmpfs", "mount_proc", "remount_root_rw", "umount_masked_path", "unshare_user_then_mount",
				"cgroup_v1_release_agent", "core_pattern_write", "proc_timer_list_read"}},
		// Capabilities, filter, Landlock and the pid namespace off; masks
		// and read-only paths on: without Landlock, masks are not locked
		// against CAP_SYS_ADMIN (docs/security-walls.md, "Self-defence").
		{name: "2+3+4+5-masks-kept", mutate: func(s *specs.Spec) {
			escSetCaps(s, escAllCaps())
			s.Linux.Seccomp = nil
			escNoLandlock(s)
			withoutNS(s, specs.PIDNamespace)
		}, through: []string{"umount_masked_path", "remount_proc_sys_rw", "mount_proc", "setns_uts_pid1_or_host",
			"setns_cgroup_pid1_or_host", "proc_pid1_root_escape", "ptrace_attach_host_process"},
			held: []string{"cgroup_v1_release_agent", "sethostname_host", "host_abstract_unix_socket"}},
		// --no-pivot: MS_MOVE + chroot instead of pivot_root, with the
		// default CAP_SYS_CHROOT. The classic chroot walk-out still stays
		// in: on this kernel ".." onto the overmounted host root steps
		// back into the rootfs mount (control, not a relaxation to pass).
		{name: "5-no-pivot", opts: attackOpts{flags: []string{"--no-pivot"}},
			held: []string{"chroot_escape"}},
		{name: "all-walls-off", opts: attackOpts{secret: true}, mutate: escPrivileged,
			allBut: map[string]string{
				"inherited_fd_outside_rootfs": "the runtime closes fds whatever config.json says",
				"cwd_outside_rootfs":          "the runtime resolves the cwd in the new root",
				"proc_self_exe_write":         "ETXTBSY: the kernel refuses writes to a running binary",
				"proc_pid1_exe_write":         "ETXTBSY",
				"chroot_escape":               "pivot_root leaves nothing above the root (see 5-no-pivot)",
				"umount_masked_path":          "no masks to remove",
				"setns_uts_pid1_or_host":      "no UTS namespace: pid 1's is ours",
				"setns_cgroup_pid1_or_host":   "no cgroup namespace: pid 1's is ours",
				"host_abstract_unix_socket":   "network namespace kept",
				"rlimit_raise_hard":           "this host's bounding set lacks CAP_SYS_RESOURCE",
			}},
	}
}

func TestEscape(t *testing.T) {
	e := newEnv(t)
	h := newEscapeHost(t)
	hostname, _ := os.Hostname()

	t.Run("defaults", func(t *testing.T) {
		for _, v := range []struct {
			name string
			opts attackOpts
		}{
			// Without a user namespace (spec.Default(false)) container
			// root is host root: only wall 1 keeps a host root file that
			// is mounted in unreadable, so the secret is offered to the
			// user-namespace run only.
			{"rootful", attackOpts{}},
			{"userns", attackOpts{userns: true, secret: true}},
		} {
			t.Run(v.name, func(t *testing.T) {
				t.Parallel()
				r := h.runTirith(t, newEnv(t), v.opts, nil)
				if n := len(r.order); n < 40 {
					t.Errorf("only %d techniques reported, want >= 40", n)
				}
				nBlocked := 0
				for _, id := range r.order {
					a := r.byID[id]
					if a.Blocked {
						nBlocked++
						t.Logf("blocked  %-30s %s", id, a.Detail)
					} else {
						t.Errorf("NOT BLOCKED under Tirith's defaults: %s: %s", id, a.Detail)
					}
				}
				t.Logf("%d/%d techniques blocked", nBlocked, len(r.order))
				escapeRuns.Lock()
				if v.opts.userns {
					escapeRuns.tirithUserNS = r
				} else {
					escapeRuns.tirith = r
				}
				escapeRuns.Unlock()
			})
		}
	})

	t.Run("walls", func(t *testing.T) {
		for _, w := range escapeWallOffs() {
			t.Run(w.name, func(t *testing.T) {
				t.Parallel()
				r := h.runTirith(t, newEnv(t), w.opts, w.mutate)
				if os.Getenv("TIRITH_ESCAPE_VERBOSE") == "1" {
					for _, id := range r.order {
						t.Logf("blocked=%-5v %-30s %s", r.byID[id].Blocked, id, r.byID[id].Detail)
					}
				}
				for _, id := range w.through {
					a, ok := r.byID[id]
					switch {
					case !ok:
						t.Errorf("%s: not reported", id)
					case a.Blocked:
						t.Errorf("%s still blocked with this wall off (the test cannot fail): %s", id, a.Detail)
					default:
						t.Logf("got through %-30s %s", id, a.Detail)
						escapeRuns.Lock()
						escapeRuns.shownBy[id] = append(escapeRuns.shownBy[id], "walls/"+w.name)
						escapeRuns.Unlock()
					}
				}
				if w.allBut != nil {
					for _, id := range r.order {
						a := r.byID[id]
						if _, ok := w.allBut[id]; ok || a.Skipped || !a.Blocked {
							if !a.Blocked {
								escapeRuns.Lock()
								escapeRuns.shownBy[id] = append(escapeRuns.shownBy[id], "walls/"+w.name)
								escapeRuns.Unlock()
							}
							continue
						}
						t.Errorf("%s still blocked with every wall off: %s", id, a.Detail)
					}
				}
				for _, id := range w.held {
					if a := r.byID[id]; !a.Blocked {
						t.Errorf("%s got through, but another wall should still hold it: %s", id, a.Detail)
					}
				}
			})
		}
	})
	if h2, _ := os.Hostname(); h2 != hostname {
		t.Errorf("the host's hostname changed: %q -> %q", hostname, h2)
	}

	t.Run("runc-default-spec", func(t *testing.T) {
		runc, err := exec.LookPath("runc")
		if err != nil {
			t.Skip("runc not installed")
		}
		r, err := h.runRunc(t, e, runc)
		if err != nil {
			t.Logf("runc could not run the attack (not a Tirith failure): %v", err)
			return
		}
		n := 0
		for _, id := range r.order {
			a := r.byID[id]
			if a.Blocked {
				n++
			}
			t.Logf("runc: blocked=%-5v %-30s %s", a.Blocked, id, a.Detail)
		}
		t.Logf("runc's default spec blocks %d/%d techniques", n, len(r.order))
		escapeRuns.Lock()
		escapeRuns.runc = r
		escapeRuns.Unlock()
	})

	if os.Getenv("TIRITH_SECURITY_TABLE") == "1" {
		fmt.Println(escapeTable())
	}
}

func escapeCell(r *attackReport, id string) string {
	if r == nil {
		return "n/a"
	}
	a, ok := r.byID[id]
	switch {
	case !ok:
		return "n/a"
	case a.Skipped:
		return "n/a (" + strings.TrimPrefix(a.Detail, "skipped: ") + ")"
	case a.Blocked:
		return "blocked"
	default:
		return "**not blocked**"
	}
}

// escapeTable renders SECURITY.md's table from this run.
func escapeTable() string {
	escapeRuns.Lock()
	defer escapeRuns.Unlock()
	var b strings.Builder
	b.WriteString("| technique | wall(s) that stop it | Tirith default (no userns) | Tirith default + userns | runc `runc spec` default | test (wall off: gets through) |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	var order []string
	for _, r := range []*attackReport{escapeRuns.tirith, escapeRuns.tirithUserNS, escapeRuns.runc} {
		if r != nil && len(r.order) > len(order) {
			order = r.order
		}
	}
	var blockedN, openN, naN [3]int
	for _, id := range order {
		shown := escapeRuns.shownBy[id]
		sort.Strings(shown)
		test := "TestEscape/defaults"
		if len(shown) > 0 {
			test += "; TestEscape/" + strings.Join(shown, ", TestEscape/")
		}
		cells := []string{escapeCell(escapeRuns.tirith, id), escapeCell(escapeRuns.tirithUserNS, id), escapeCell(escapeRuns.runc, id)}
		for i, c := range cells {
			switch {
			case c == "blocked":
				blockedN[i]++
			case strings.HasPrefix(c, "n/a"):
				naN[i]++
			default:
				openN[i]++
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", id, escapeWalls[id], cells[0], cells[1], cells[2], test)
	}
	b.WriteString("| **total** | |")
	for i := range 3 {
		fmt.Fprintf(&b, " **%d blocked, %d not blocked**, %d n/a |", blockedN[i], openN[i], naN[i])
	}
	b.WriteString(" |\n")
	return b.String()
}
