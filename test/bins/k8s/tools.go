//go:build tools

// Package tools pins the real components this module builds for the test harness: kube-apiserver,
// kubectl and etcd, and the node's kubelet, kube-controller-manager, kube-scheduler and kube-proxy, at the
// versions Kubernetes itself requires.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
