//go:build tools

// Package tools pins the container runtime of the harness's Kubernetes node: containerd 2 and its runc
// shim, built with CGO_ENABLED=0 and the tags no_btrfs,no_devmapper,no_zfs (test/bins/build.sh).
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
