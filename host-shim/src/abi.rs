//! Numbers of the proxy-wasm ABI 0.2.1 (spec `abi-versions/v0.2.1`, "Types"), as Rust enums.
//!
//! Only the host side's view: which status a host call returns, which map or buffer a guest names.
//! Conversions from the raw `u32` a guest passes are fallible, because a guest may pass anything and
//! an unknown value is a `BAD_ARGUMENT`, never a host panic.

/// `proxy_status_t`: what every `env.proxy_*` host call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    /// `OK`
    Ok = 0,
    /// `NOT_FOUND`
    NotFound = 1,
    /// `BAD_ARGUMENT`
    BadArgument = 2,
    /// `SERIALIZATION_FAILURE`
    SerializationFailure = 3,
    /// `PARSE_FAILURE`
    ParseFailure = 4,
    /// `INVALID_MEMORY_ACCESS`: a pointer or length outside the guest's linear memory.
    InvalidMemoryAccess = 6,
    /// `EMPTY`
    Empty = 7,
    /// `CAS_MISMATCH`
    CasMismatch = 8,
    /// `INTERNAL_FAILURE`
    InternalFailure = 10,
    /// `BROKEN_CONNECTION` (cpp-host `WasmResult`): what `proxy_get_status` reports after a reset.
    BrokenConnection = 11,
    /// `UNIMPLEMENTED`
    Unimplemented = 12,
}

impl Status {
    /// The value handed back to the guest.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Builds a `TryFrom<u32>` for a fieldless enum whose discriminants are the ABI values.
macro_rules! abi_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value),+
        }

        impl TryFrom<u32> for $name {
            type Error = Status;

            fn try_from(value: u32) -> Result<Self, Status> {
                match value {
                    $($value => Ok(Self::$variant),)+
                    _ => Err(Status::BadArgument),
                }
            }
        }
    };
}

abi_enum!(
    /// `proxy_log_level_t`.
    LogLevel {
        /// `TRACE`
        Trace = 0,
        /// `DEBUG`
        Debug = 1,
        /// `INFO`
        Info = 2,
        /// `WARN`
        Warn = 3,
        /// `ERROR`
        Error = 4,
        /// `CRITICAL`
        Critical = 5,
    }
);

abi_enum!(
    /// `proxy_map_type_t`: which header map a host call is about.
    MapType {
        /// `HTTP_REQUEST_HEADERS`
        RequestHeaders = 0,
        /// `HTTP_REQUEST_TRAILERS`
        RequestTrailers = 1,
        /// `HTTP_RESPONSE_HEADERS`
        ResponseHeaders = 2,
        /// `HTTP_RESPONSE_TRAILERS`
        ResponseTrailers = 3,
        /// `GRPC_CALL_INITIAL_METADATA`
        GrpcInitialMetadata = 4,
        /// `GRPC_CALL_TRAILING_METADATA`
        GrpcTrailingMetadata = 5,
        /// `HTTP_CALL_RESPONSE_HEADERS`
        HttpCallResponseHeaders = 6,
        /// `HTTP_CALL_RESPONSE_TRAILERS`
        HttpCallResponseTrailers = 7,
    }
);

abi_enum!(
    /// `proxy_buffer_type_t`: which byte buffer a host call is about.
    BufferType {
        /// `HTTP_REQUEST_BODY`
        RequestBody = 0,
        /// `HTTP_RESPONSE_BODY`
        ResponseBody = 1,
        /// `DOWNSTREAM_DATA`
        DownstreamData = 2,
        /// `UPSTREAM_DATA`
        UpstreamData = 3,
        /// `HTTP_CALL_RESPONSE_BODY`
        HttpCallResponseBody = 4,
        /// `GRPC_CALL_MESSAGE`
        GrpcCallMessage = 5,
        /// `VM_CONFIGURATION`
        VmConfiguration = 6,
        /// `PLUGIN_CONFIGURATION`
        PluginConfiguration = 7,
        /// `FOREIGN_FUNCTION_ARGUMENTS`
        ForeignFunctionArguments = 8,
    }
);

abi_enum!(
    /// `proxy_stream_type_t`: which direction `proxy_continue_stream` / `proxy_close_stream` mean.
    StreamType {
        /// `HTTP_REQUEST`
        HttpRequest = 0,
        /// `HTTP_RESPONSE`
        HttpResponse = 1,
        /// `DOWNSTREAM`
        Downstream = 2,
        /// `UPSTREAM`
        Upstream = 3,
    }
);

abi_enum!(
    /// `proxy_metric_type_t`.
    MetricType {
        /// `COUNTER`: only grows.
        Counter = 0,
        /// `GAUGE`: set, or moved up and down.
        Gauge = 1,
        /// `HISTOGRAM`: recorded values.
        Histogram = 2,
    }
);

abi_enum!(
    /// `proxy_action_t`: what a header/body callback returns.
    Action {
        /// `CONTINUE`: go on with the stream.
        Continue = 0,
        /// `PAUSE`: stop iteration until `proxy_continue_stream`.
        Pause = 1,
    }
);

/// `wasi_errno_t` values the shim's own WASI functions return.
pub mod errno {
    /// `SUCCESS`
    pub const SUCCESS: i32 = 0;
    /// `BADF`: unknown file descriptor.
    pub const BADF: i32 = 8;
    /// `FAULT`: a pointer outside linear memory.
    pub const FAULT: i32 = 21;
    /// `INVAL`: e.g. a `random_get` larger than the host allows.
    pub const INVAL: i32 = 28;
    /// `NOTSUP`: e.g. an unknown clock id.
    pub const NOTSUP: i32 = 58;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_are_bad_arguments() {
        assert_eq!(MapType::try_from(8), Err(Status::BadArgument));
        assert_eq!(BufferType::try_from(7), Ok(BufferType::PluginConfiguration));
        assert_eq!(LogLevel::try_from(6), Err(Status::BadArgument));
        assert_eq!(Action::try_from(1), Ok(Action::Pause));
    }
}
