package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/engine/specgen"
)

// maxSecretSize caps one secret: secrets are keys and tokens, and the
// tmpfs holding them is memory.
const maxSecretSize = 1 << 20

// hostID maps a container id to the host through the spec's mappings
// (identity without a user namespace).
func hostID(maps []specs.LinuxIDMapping, id uint32) (int, error) {
	if len(maps) == 0 {
		return int(id), nil
	}
	for _, m := range maps {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return int(m.HostID + id - m.ContainerID), nil
		}
	}
	return 0, fmt.Errorf("id %d is not mapped into the container's user namespace", id)
}

// writeSecrets mounts a small tmpfs at dir on the host and copies each
// secret into it with its mode and owner. A tmpfs, so that the content
// never reaches a disk; it is bound read-only onto /run/secrets by the
// spec and unmounted on rm. Nothing here logs or records the content.
func writeSecrets(dir string, secrets []specgen.Secret, s *specs.Spec, u *specgen.User) error {
	if len(secrets) == 0 {
		return nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("--secret: %w", err)
	}
	rootUID, err := hostID(s.Linux.UIDMappings, 0)
	if err != nil {
		return fmt.Errorf("--secret: %w", err)
	}
	rootGID, err := hostID(s.Linux.GIDMappings, 0)
	if err != nil {
		return fmt.Errorf("--secret: %w", err)
	}
	size := int64(len(secrets))*maxSecretSize + 64<<10
	// mode 0755: every user in the container may look up its secret by
	// name; each file's own mode and owner decide who reads it.
	data := fmt.Sprintf("mode=0755,uid=%d,gid=%d,size=%d", rootUID, rootGID, size)
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
		return fmt.Errorf("--secret: mount tmpfs on %s: %w", dir, err)
	}
	for _, so := range secrets {
		if err := writeSecret(dir, so, s, u); err != nil {
			return err
		}
	}
	return nil
}

func writeSecret(dir string, so specgen.Secret, s *specs.Spec, u *specgen.User) error {
	in, err := os.Open(so.Source)
	if err != nil {
		return fmt.Errorf("--secret %s: %w", so.Source, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("--secret %s: %w", so.Source, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("--secret %s: not a regular file", so.Source)
	}
	if st.Size() > maxSecretSize {
		return fmt.Errorf("--secret %s: larger than %d bytes", so.Source, maxSecretSize)
	}
	// Owner: the container's process user unless uid=/gid= say otherwise,
	// so that the default mode 0400 is readable by the payload.
	uid, gid := u.UID, u.GID
	if so.UID != nil {
		uid = *so.UID
	}
	if so.GID != nil {
		gid = *so.GID
	}
	huid, err := hostID(s.Linux.UIDMappings, uid)
	if err != nil {
		return fmt.Errorf("--secret %s: uid: %w", so.Source, err)
	}
	hgid, err := hostID(s.Linux.GIDMappings, gid)
	if err != nil {
		return fmt.Errorf("--secret %s: gid: %w", so.Source, err)
	}
	out, err := os.OpenFile(filepath.Join(dir, so.Target), os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("--secret %s: %w", so.Source, err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.LimitReader(in, maxSecretSize)); err != nil {
		return fmt.Errorf("--secret %s: %w", so.Source, err)
	}
	if err := out.Chown(huid, hgid); err != nil {
		return fmt.Errorf("--secret %s: %w", so.Source, err)
	}
	if err := out.Chmod(os.FileMode(so.Mode)); err != nil {
		return fmt.Errorf("--secret %s: %w", so.Source, err)
	}
	return nil
}
