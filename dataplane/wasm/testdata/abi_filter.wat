;; A Proxy-Wasm 0.2.1 HTTP filter written straight against the ABI spec
;; (proxy-wasm/spec abi-versions/v0.2.1), without any SDK. The request header
;; x-wat-mode picks what it does:
;;   (absent) add x-wat-seen: 1, remove x-remove-me, continue
;;   d        local response 403 "denied by wat" with x-wat: yes
;;   c        http_call to cluster "authz" GET /check, pause; on a 200 add
;;            x-wat-authz: ok and continue, else local response 401
;;   s        increment the shared-data counter "wat_counter" (u32, CAS loop)
;;   t        trap (unreachable)
;;   l        loop forever
;;   m        grow memory until refused, then trap
;; A plugin configuration starting with "x" is refused by proxy_on_configure.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_hdr (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_hdr (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $rm_hdr (param i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_shared (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buf (param i32 i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))

  (data (i32.const 0) "x-wat-mode")
  (data (i32.const 16) "denied by wat")
  ;; header map {x-wat: yes}: count, key len, value len, "x-wat\00yes\00"
  (data (i32.const 48) "\01\00\00\00\05\00\00\00\03\00\00\00x-wat\00yes\00")
  (data (i32.const 80) "authz")
  ;; header map {:method: GET, :path: /check, :authority: authz}
  (data (i32.const 96) "\03\00\00\00\07\00\00\00\03\00\00\00\05\00\00\00\06\00\00\00\0a\00\00\00\05\00\00\00:method\00GET\00:path\00/check\00:authority\00authz\00")
  (data (i32.const 176) ":status")
  (data (i32.const 192) "x-wat-authz")
  (data (i32.const 208) "ok")
  (data (i32.const 224) "wat_counter")
  (data (i32.const 240) "x-wat-seen")
  (data (i32.const 256) "1")
  (data (i32.const 264) "x-remove-me")
  (data (i32.const 280) "x-wat-response")
  (data (i32.const 300) "unauthorized")
  (data (i32.const 320) "wat")
  (data (i32.const 336) "hello from wat")
  ;; 400: returned pointer, 404: returned size, 408: returned cas, 412: token
  ;; 512: counter value scratch

  (func (export "proxy_abi_version_0_2_1"))

  ;; bump allocator; the heap is reset at the start of every callback
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))

  (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32) (i32.const 1))

  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (global.set $heap (i32.const 65536))
    ;; make sure the shared counter exists (VMs start one after another)
    (if (i32.ne (call $get_shared (i32.const 224) (i32.const 11) (i32.const 400) (i32.const 404) (i32.const 408)) (i32.const 0))
      (then
        (i32.store (i32.const 512) (i32.const 0))
        (drop (call $set_shared (i32.const 224) (i32.const 11) (i32.const 512) (i32.const 4) (i32.const 0)))))
    (if (i32.gt_u (local.get $size) (i32.const 0))
      (then
        (if (i32.eqz (call $get_buf (i32.const 7) (i32.const 0) (local.get $size) (i32.const 400) (i32.const 404)))
          (then
            (if (i32.eq (i32.load8_u (i32.load (i32.const 400))) (i32.const 120)) ;; 'x'
              (then (return (i32.const 0))))))))
    (i32.const 1))

  (func $incr
    (local $cas i32) (local $val i32)
    (loop $retry
      (local.set $cas (i32.const 0))
      (local.set $val (i32.const 0))
      (if (i32.eqz (call $get_shared (i32.const 224) (i32.const 11) (i32.const 400) (i32.const 404) (i32.const 408)))
        (then
          (local.set $val (i32.load (i32.load (i32.const 400))))
          (local.set $cas (i32.load (i32.const 408)))))
      (i32.store (i32.const 512) (i32.add (local.get $val) (i32.const 1)))
      (br_if $retry (i32.ne
        (call $set_shared (i32.const 224) (i32.const 11) (i32.const 512) (i32.const 4) (local.get $cas))
        (i32.const 0)))))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (local $mode i32)
    (global.set $heap (i32.const 65536))
    (if (i32.eqz (call $get_hdr (i32.const 0) (i32.const 0) (i32.const 10) (i32.const 400) (i32.const 404)))
      (then
        (if (i32.gt_u (i32.load (i32.const 404)) (i32.const 0))
          (then (local.set $mode (i32.load8_u (i32.load (i32.const 400))))))))
    (drop (call $log (i32.const 2) (i32.const 336) (i32.const 14)))
    (if (i32.eq (local.get $mode) (i32.const 100)) ;; d
      (then
        (drop (call $local (i32.const 403) (i32.const 320) (i32.const 3) (i32.const 16) (i32.const 13) (i32.const 48) (i32.const 22) (i32.const -1)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $mode) (i32.const 99)) ;; c
      (then
        (drop (call $http_call (i32.const 80) (i32.const 5) (i32.const 96) (i32.const 70)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 2000) (i32.const 412)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $mode) (i32.const 115)) ;; s
      (then (call $incr)))
    (if (i32.eq (local.get $mode) (i32.const 116)) ;; t
      (then unreachable))
    (if (i32.eq (local.get $mode) (i32.const 108)) ;; l
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $mode) (i32.const 109)) ;; m
      (then
        (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        unreachable))
    (drop (call $add_hdr (i32.const 0) (i32.const 240) (i32.const 10) (i32.const 256) (i32.const 1)))
    (drop (call $rm_hdr (i32.const 0) (i32.const 264) (i32.const 11)))
    (i32.const 0))

  (func (export "proxy_on_http_call_response") (param $ctx i32) (param $tok i32) (param $nh i32) (param $bs i32) (param $nt i32)
    (global.set $heap (i32.const 65536))
    (if (i32.eqz (call $get_hdr (i32.const 6) (i32.const 176) (i32.const 7) (i32.const 400) (i32.const 404)))
      (then
        (if (i32.and
              (i32.eq (i32.load (i32.const 404)) (i32.const 3))
              (i32.eq (i32.load8_u (i32.load (i32.const 400))) (i32.const 50))) ;; '2'
          (then
            (drop (call $add_hdr (i32.const 0) (i32.const 192) (i32.const 11) (i32.const 208) (i32.const 2)))
            (drop (call $continue (i32.const 0)))
            (return)))))
    (drop (call $local (i32.const 401) (i32.const 320) (i32.const 3) (i32.const 300) (i32.const 12) (i32.const 0) (i32.const 0) (i32.const -1))))

  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (global.set $heap (i32.const 65536))
    (drop (call $add_hdr (i32.const 2) (i32.const 280) (i32.const 14) (i32.const 256) (i32.const 1)))
    (i32.const 0))

  (func (export "proxy_on_done") (param $ctx i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param $ctx i32))
  (func (export "proxy_on_delete") (param $ctx i32))
)
