//go:build tools

// Package tools pins the Pulumi CLI's main package, so `go build` of it uses this module's
// go.mod and go.sum.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
