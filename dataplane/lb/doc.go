// Package lb holds the load-balancing policies of meshd and of the client
// SDK (one implementation for both). Each policy registers
// itself by name (as grpc-go's balancers do) and the cluster config names
// it. Policies read host availability live on every pick, so a health
// change or an ejection takes effect without rebuilding the picker.
package lb
