// Package jwtauth verifies the bearer JWTs that the SDK's token sources
// attach, on the receiving side: for gRPC through client/grpcmesh's server
// interceptors, for HTTP through Middleware. Keys come from a JWKS URL
// (cached, refreshed on rotation) or are given statically. It uses
// golang-jwt/v5 and accepts only the algorithms configured.
package jwtauth
