package grpcmesh

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/wasmesh/wasmesh/client"
	"github.com/wasmesh/wasmesh/client/jwtauth"
)

// CorrelationHeader is the metadata key of the correlation id (gRPC
// metadata keys are lower case).
const CorrelationHeader = "x-correlation-id"

func build(opts []Option) *options {
	o := &options{}
	for _, f := range opts {
		f(o)
	}
	return o
}

// UnaryClientInterceptor returns the client interceptor NewClient installs:
// correlation id, logging, metrics and error mapping (WithLogger,
// WithMetrics). Tracing is otelgrpc's stats handler, not an interceptor.
func UnaryClientInterceptor(opts ...Option) grpc.UnaryClientInterceptor {
	return build(opts).unaryClient
}

// StreamClientInterceptor is UnaryClientInterceptor for streams; the RPC
// is observed when the stream ends (its status is received).
func StreamClientInterceptor(opts ...Option) grpc.StreamClientInterceptor {
	return build(opts).streamClient
}

// UnaryServerInterceptor returns the server interceptor ServerOptions
// installs: JWT verification (WithJWTVerifier), correlation id into the
// context, logging, metrics, and handler errors wrapping client sentinels
// turned into their status codes (ToStatus).
func UnaryServerInterceptor(opts ...Option) grpc.UnaryServerInterceptor {
	return build(opts).unaryServer
}

// StreamServerInterceptor is UnaryServerInterceptor for streams.
func StreamServerInterceptor(opts ...Option) grpc.StreamServerInterceptor {
	return build(opts).streamServer
}

func outgoingCorrelation(ctx context.Context) context.Context {
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get(CorrelationHeader)) > 0 {
		return ctx
	}
	id := client.CorrelationID(ctx)
	if id == "" {
		id = uuid.NewString()
	}
	return metadata.AppendToOutgoingContext(ctx, CorrelationHeader, id)
}

func (o *options) unaryClient(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
	start := time.Now()
	ctx = outgoingCorrelation(ctx)
	err := invoker(ctx, method, req, reply, cc, callOpts...)
	o.observe(ctx, true, method, start, err)
	return MapError(err)
}

func (o *options) streamClient(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
	start := time.Now()
	ctx = outgoingCorrelation(ctx)
	cs, err := streamer(ctx, desc, cc, method, callOpts...)
	if err != nil {
		o.observe(ctx, true, method, start, err)
		return nil, MapError(err)
	}
	return &clientStream{ClientStream: cs, o: o, ctx: ctx, method: method, start: start, serverStreams: desc.ServerStreams}, nil
}

type clientStream struct {
	grpc.ClientStream
	o             *options
	ctx           context.Context
	method        string
	start         time.Time
	serverStreams bool
	once          sync.Once
}

func (s *clientStream) finish(err error) {
	s.once.Do(func() { s.o.observe(s.ctx, true, s.method, s.start, err) })
}

func (s *clientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	switch {
	case errors.Is(err, io.EOF):
		s.finish(nil)
		return err // io.EOF is the stream's clean end, by contract
	case err != nil:
		s.finish(err)
		return MapError(err)
	case !s.serverStreams:
		s.finish(nil) // the single response of a unary-response stream
	}
	return nil
}

func (s *clientStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	return md, MapError(err)
}

// observe records metrics and logs one finished RPC.
func (o *options) observe(ctx context.Context, isClient bool, fullMethod string, start time.Time, err error) {
	if o.metrics == nil && o.logger == nil {
		return
	}
	code := status.Code(err)
	if err != nil && code == codes.Unknown {
		code = status.FromContextError(err).Code()
	}
	d := time.Since(start)
	if met := o.metrics; met != nil {
		s := &met.server
		if isClient {
			s = &met.client
		}
		s.observe(fullMethod, code, d.Seconds())
	}
	if l := o.logger; l != nil {
		side := "server"
		if isClient {
			side = "client"
		}
		level := slog.LevelDebug
		if err != nil {
			level = slog.LevelWarn
		}
		if !l.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("side", side), slog.String("method", fullMethod),
			slog.String("code", code.String()), slog.Duration("duration", d),
		}
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			attrs = append(attrs, slog.String("peer", p.Addr.String()))
		}
		if id := correlationOf(ctx, isClient); id != "" {
			attrs = append(attrs, slog.String("correlation_id", id))
		}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		l.LogAttrs(ctx, level, "grpc", attrs...)
	}
}

func correlationOf(ctx context.Context, isClient bool) string {
	if id := client.CorrelationID(ctx); id != "" {
		return id
	}
	var md metadata.MD
	if isClient {
		md, _ = metadata.FromOutgoingContext(ctx)
	} else {
		md, _ = metadata.FromIncomingContext(ctx)
	}
	if v := md.Get(CorrelationHeader); len(v) > 0 {
		return v[0]
	}
	return ""
}

func splitMethod(full string) (string, string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

// serverContext verifies the token and moves the correlation id into ctx.
func (o *options) serverContext(ctx context.Context, fullMethod string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(CorrelationHeader); len(v) > 0 && v[0] != "" {
		ctx = client.WithCorrelationID(ctx, v[0])
	}
	if o.verifier == nil || o.public(fullMethod) {
		return ctx, nil
	}
	var tok string
	if v := md.Get("authorization"); len(v) > 0 {
		tok = jwtauth.BearerToken(v[0])
	}
	claims, err := o.verifier.Verify(ctx, tok)
	if err != nil {
		return ctx, status.Error(codes.Unauthenticated, err.Error())
	}
	return jwtauth.WithClaims(ctx, claims), nil
}

func (o *options) public(fullMethod string) bool {
	for _, p := range o.publicMethods {
		if p == fullMethod || (strings.HasSuffix(p, "/") && strings.HasPrefix(fullMethod, p)) {
			return true
		}
	}
	return false
}

func (o *options) unaryServer(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	ctx, err := o.serverContext(ctx, info.FullMethod)
	var resp any
	if err == nil {
		resp, err = handler(ctx, req)
		if err != nil {
			err = ToStatus(err).Err()
		}
	}
	o.observe(ctx, false, info.FullMethod, start, err)
	return resp, err
}

func (o *options) streamServer(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	ctx, err := o.serverContext(ss.Context(), info.FullMethod)
	if err == nil {
		err = handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
		if err != nil {
			err = ToStatus(err).Err()
		}
	}
	o.observe(ctx, false, info.FullMethod, start, err)
	return err
}

type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }
