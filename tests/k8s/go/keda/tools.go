//go:build tools

// The commands tests/k8s/build.sh builds; the import pins them in go.mod.
package tools

import (
	_ "github.com/kedacore/keda/v2/cmd/adapter"
	_ "github.com/kedacore/keda/v2/cmd/operator"
)
