"""End-to-end suite over the emulated cluster in hack/lab (or a real cluster given KUBECONFIG); see e2e/README.md."""
