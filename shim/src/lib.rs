//! keel-shim: the supervisor between a caller (hoist, and later containerd)
//! and a runc-compatible runtime. (being written)
