//go:build tools

// Package tools pins the Kubernetes provider plugin (pulumi-resource-kubernetes) this module builds for the
// infra integration test. The provider's main package embeds a schema file that its repository generates
// at build time (go:generate) and that is not in the module zip, so build.sh assembles the main package
// from the module's cmd/pulumi-resource-kubernetes in a scratch directory; these imports give this
// module the dependency graph that main package needs.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)
