// Package lb holds meshd's load-balancing policies. Each policy registers
// itself by name (as grpc-go's balancers do) and the cluster config names
// it. Policies read host availability live on every pick, so a health
// change or an ejection takes effect without rebuilding the picker.
package lb
