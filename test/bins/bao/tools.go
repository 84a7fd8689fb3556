//go:build tools

// Package tools pins the OpenBao server (Vault API compatible) that the test harness runs in dev mode.
package tools

import _ "github.com/openbao/openbao"
