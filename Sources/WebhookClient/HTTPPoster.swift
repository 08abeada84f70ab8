import CCurl
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What one POST came to.
public struct PostResult: Sendable, Equatable {
    public enum Failure: Sendable, Equatable {
        /// Every address the host resolved to is refused by the destination policy.
        case refusedDestination(String)
        case timedOut
        /// Stopped by the caller (`isCancelled`), e.g. on SIGTERM.
        case cancelled
        /// Any other transport failure (DNS, connection refused, TLS, …), in curl's words.
        case transport(String)
    }

    /// The response status, when a response arrived (redirects are not followed: a 3xx is the answer).
    public let statusCode: Int?
    public let failure: Failure?
    /// The start of the response body, at most `HTTPPoster.Options.keptBodyBytes`.
    public let bodyExcerpt: [UInt8]
    public let durationNanoseconds: Int64

    public var succeeded: Bool { failure == nil && (200...299).contains(statusCode ?? 0) }
}

/// POSTs a body with libcurl, blocking the calling thread (as libpq and libfcgi do): one instance per
/// thread, which keeps its connections alive between calls. Redirects are never followed, no proxy from
/// the environment is used, only http and https are spoken, and every address is checked against the
/// `DestinationPolicy` at the moment curl opens the socket.
public final class HTTPPoster {
    public struct Options: Sendable {
        /// The whole attempt: connect, send, wait, read.
        public var timeout: Duration = .seconds(10)
        public var connectTimeout: Duration = .seconds(5)
        /// Bytes of the response body kept for the delivery log.
        public var keptBodyBytes = 1024
        /// Reading stops after this many bytes of response body (the status is known by then).
        public var maximumBodyBytes = 64 * 1024
        public var userAgent = "workflowd-webhooks/1"
        public init() {}
    }

    private let handle: UnsafeMutableRawPointer
    private let options: Options
    private let policy: DestinationPolicy

    /// curl's global state, set up once before any handle (it is not thread-safe itself).
    private static let globalInit: Bool = curl_global_init(wd_curl_global_all) == CURLE_OK

    public init(policy: DestinationPolicy, options: Options = Options()) {
        _ = Self.globalInit
        handle = curl_easy_init()!
        self.policy = policy
        self.options = options
    }

    deinit { curl_easy_cleanup(handle) }

    /// What the callbacks of one transfer share; lives on the caller's stack for the duration of `perform`.
    final class Transfer {
        let host: String
        let policy: DestinationPolicy
        let kept: Int
        let maximum: Int
        let isCancelled: () -> Bool
        var body: [UInt8] = []
        var received = 0
        var refused: [String] = []
        var truncated = false
        var cancelled = false

        init(host: String, policy: DestinationPolicy, kept: Int, maximum: Int, isCancelled: @escaping () -> Bool) {
            self.host = host
            self.policy = policy
            self.kept = kept
            self.maximum = maximum
            self.isCancelled = isCancelled
        }
    }

    public func post(
        url: String, headers: [(String, String)], body: [UInt8], isCancelled: @escaping () -> Bool = { false }
    ) -> PostResult {
        let started = ContinuousClock.now
        let host = Self.host(of: url) ?? ""
        let transfer = Transfer(
            host: host, policy: policy, kept: options.keptBodyBytes, maximum: options.maximumBodyBytes, isCancelled: isCancelled)
        curl_easy_reset(handle)
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in headers + [("Content-Type", "application/json"), ("Expect", "")] {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        defer { curl_slist_free_all(list) }
        let unmanaged = Unmanaged.passRetained(transfer)
        defer { unmanaged.release() }
        let context = unmanaged.toOpaque()

        setLong(CURLOPT_NOSIGNAL, 1)
        setLong(CURLOPT_FOLLOWLOCATION, 0)
        setLong(CURLOPT_TIMEOUT_MS, Int(options.timeout.components.seconds * 1000))
        setLong(CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout.components.seconds * 1000))
        setLong(CURLOPT_POST, 1)
        setLong(CURLOPT_NOPROGRESS, 0)
        setString(CURLOPT_URL, url)
        setString(CURLOPT_PROTOCOLS_STR, "http,https")
        setString(CURLOPT_PROXY, "")
        setString(CURLOPT_USERAGENT, options.userAgent)
        _ = wd_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, list)
        _ = wd_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = wd_curl_setopt_write(handle, Self.write)
        _ = wd_curl_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, context)
        _ = wd_curl_setopt_opensocket(handle, Self.openSocket)
        _ = wd_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context)
        _ = wd_curl_setopt_xferinfo(handle, Self.progress)

        let code = body.withUnsafeBytes { raw -> CURLcode in
            // POSTFIELDS is not copied by curl: the bytes must live until perform returns, as they do here.
            setLong(CURLOPT_POSTFIELDSIZE, raw.count)
            _ = wd_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
            return curl_easy_perform(handle)
        }
        var status = 0
        _ = wd_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        let elapsed = (ContinuousClock.now - started)
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        let statusCode = status > 0 ? status : nil
        let failure: PostResult.Failure?
        switch code {
        case CURLE_OK: failure = nil
        case CURLE_WRITE_ERROR where transfer.truncated && statusCode != nil: failure = nil
        case _ where transfer.cancelled: failure = .cancelled
        case _ where !transfer.refused.isEmpty:
            failure = .refusedDestination("\(host) resolves to \(transfer.refused.joined(separator: ", ")), refused by the destination policy")
        case CURLE_OPERATION_TIMEDOUT: failure = .timedOut
        default: failure = .transport(String(cString: curl_easy_strerror(code)))
        }
        return PostResult(statusCode: failure == nil ? statusCode : nil, failure: failure, bodyExcerpt: transfer.body, durationNanoseconds: nanoseconds)
    }

    private func setLong(_ option: CURLoption, _ value: Int) { _ = wd_curl_setopt_long(handle, option, value) }

    private func setString(_ option: CURLoption, _ value: String) {
        _ = value.withCString { wd_curl_setopt_pointer(handle, option, $0) }  // curl copies string options
    }

    /// The host of an absolute URL, without brackets or port (what the allow-list names).
    static func host(of url: String) -> String? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        var rest = url[schemeEnd.upperBound...]
        rest = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { return String(rest[rest.index(after: rest.startIndex)..<close]) }
        return String(rest.prefix { $0 != ":" })
    }

    private static let write: curl_write_callback = { pointer, size, count, context in
        let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
        let length = size * count
        if transfer.body.count < transfer.kept, let pointer {
            let take = min(length, transfer.kept - transfer.body.count)
            pointer.withMemoryRebound(to: UInt8.self, capacity: take) { transfer.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: take)) }
        }
        transfer.received += length
        if transfer.received > transfer.maximum {
            transfer.truncated = true
            return 0  // stop reading: curl ends the transfer with CURLE_WRITE_ERROR
        }
        return length
    }

    private static let openSocket: curl_opensocket_callback = { context, _, address in
        let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
        guard let address else { return wd_curl_socket_bad }
        var bytes = [UInt8](repeating: 0, count: 16)
        let length = Int(wd_curl_sockaddr_ip(address, &bytes))
        guard let ip = IPAddress(bytes: Array(bytes.prefix(length))) else { return wd_curl_socket_bad }
        guard transfer.policy.permits(host: transfer.host, address: ip) else {
            transfer.refused.append(ip.description)
            return wd_curl_socket_bad
        }
        return wd_curl_open_socket(address)
    }

    private static let progress: curl_xferinfo_callback = { context, _, _, _, _ in
        let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
        guard transfer.isCancelled() else { return 0 }
        transfer.cancelled = true
        return 1
    }
}
