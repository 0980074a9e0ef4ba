// Package upstream is the runtime side of clusters: endpoints with their
// connection pools, active health checks, outlier detection, circuit
// breakers and the retry budget. A Manager keeps this state by cluster name
// across config reloads, so a reload that leaves a cluster unchanged keeps
// its pools, health and ejections.
package upstream
