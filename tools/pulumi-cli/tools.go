//go:build tools

// Package tools pins the Pulumi CLI's main package in this wrapper module, so that `go
// build` takes it at the version go.mod requires. The CLI's own go.mod carries `replace`
// lines into its monorepo, which `go install pkg@version` refuses; a wrapper module's
// build ignores a dependency's replace lines.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
