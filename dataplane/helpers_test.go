package dataplane

import (
	"context"
	"time"

	"github.com/wasmesh/wasmesh/conf"
)

type confConfig = conf.Config

func confLoad(path string) (*conf.Config, error) {
	src, err := conf.Load(path, "")
	if err != nil {
		return nil, err
	}
	return src.Config, nil
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
