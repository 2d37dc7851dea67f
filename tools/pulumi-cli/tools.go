//go:build tools

// Package tools pins the Pulumi CLI's main package in this wrapper module, so that `go
// build` takes it at the version go.mod requires. The CLI's own go.mod carries `replace`
// lines into its monorepo, which `go install pkg@version` refuses; a wrapper module's
// build ignores a dependency's replace lines.
//
// It pins the YAML language host too (pulumi-yaml v1.38.1, the newest release the module
// proxy serves that builds against pkg v3.274.1: v1.25.0, the one `go list -m -versions`
// lists, calls plugin APIs that 3.274 no longer has).
package tools

import (
	_ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
