//go:build tools

// Package tools records the helm command that the test environment builds, so that
// 'go mod tidy' keeps its dependencies in go.sum.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
