module novapos.local/test/bins/prometheus-operator

go 1.26.0

// Only the CRD YAML in the module's zip (example/prometheus-operator-crd/) is used: ServiceMonitor,
// PrometheusRule and AlertmanagerConfig manifests are dry-run against the real apiserver with them.
require github.com/prometheus-operator/prometheus-operator v0.85.0
