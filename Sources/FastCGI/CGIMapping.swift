import HTTPTypes
public import HTTPHead
#if canImport(Glibc)
import Glibc
#endif

/// Turns FastCGI (CGI/1.1) parameters into a `RequestHead`, and a `ResponseHead` into a CGI response head.
/// Pure functions: the FastCGI plumbing hands them plain strings.
public enum CGIMapping {
    public enum MappingError: Error, Equatable, CustomStringConvertible {
        case missingParameter(String)
        case invalidMethod(String)

        public var description: String {
            switch self {
            case .missingParameter(let name): return "FastCGI parameter \(name) is missing"
            case .invalidMethod(let method): return "invalid request method \(method)"
            }
        }
    }

    /// Builds the request from CGI parameters: `REQUEST_METHOD`, `REQUEST_URI` (path and query),
    /// `HTTP_*` headers, `CONTENT_TYPE`, `CONTENT_LENGTH`, `HTTPS`, `HTTP_HOST`.
    public static func request(from params: [(String, String)]) throws(MappingError) -> RequestHead {
        var builder = RequestBuilder()
        for (name, value) in params {
            var (name, value) = (name, value)
            name.withUTF8 { name in value.withUTF8 { value in builder.add(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value)) } }
        }
        return try builder.request()
    }

    /// `request(from:)` fed one parameter at a time, as bytes: the server hands it libfcgi's `NAME=value`
    /// strings without copying them into Swift strings first, and only what the request keeps becomes a
    /// `String` (nginx's fastcgi_params sends a dozen variables it never reads: SERVER_SOFTWARE, REMOTE_PORT, …).
    public struct RequestBuilder {
        private var method: HTTPRequest.Method?
        private var methodText: String?
        private var uri: String?
        private var scriptName: String?
        private var query: String?
        private var https = false
        private var host: String?
        private var fields = HeaderFields()

        /// Room for a typical request's headers at once (nginx passes a handful), not regrown per field.
        public init() { fields.reserveCapacity(8) }

        public mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
            if name.count > 5, memcmp(name.baseAddress!, httpPrefix.utf8Start, 5) == 0 {
                let suffix = UnsafeRawBufferPointer(rebasing: name[5...])
                if suffix.count == 4, memcmp(suffix.baseAddress!, hostSuffix.utf8Start, 4) == 0 {
                    host = String(decoding: value, as: UTF8.self)  // carried as the authority, not as a header field
                } else {
                    addHeader(CGIMapping.headerName(fromParameter: suffix), value)
                }
                return
            }
            guard let variable = Variable(name) else { return }
            // A String only for a value the request keeps: nginx sends SCRIPT_NAME and DOCUMENT_URI (needed
            // only without REQUEST_URI) and an empty QUERY_STRING, CONTENT_TYPE and CONTENT_LENGTH on every get.
            func text() -> String { String(decoding: value, as: UTF8.self) }
            switch variable {
            case .requestMethod: (method, methodText) = Self.method(value)
            case .requestURI: uri = text()
            case .scriptName, .documentURI: if scriptName == nil { scriptName = text() }
            case _ where value.isEmpty: return
            case .queryString: query = text()
            case .https: https = text().lowercased() != "off"
            case .contentType: fields.append(.contentType, text())
            case .contentLength: fields.append(.contentLength, text())
            }
        }

        private mutating func addHeader(_ name: HTTPField.Name?, _ value: UnsafeRawBufferPointer) {
            guard let name else { return }
            // Content-Type/Length come from their CGI variables; a duplicate HTTP_ copy is ignored.
            if name == .contentType || name == .contentLength { return }
            fields.append(name, String(decoding: value, as: UTF8.self))
        }

        /// The common methods without a `String` (their constants); any other through `HTTPRequest.Method`'s
        /// check of the token (nil when it is not one: `methodText` then names it in the error).
        private static func method(_ value: UnsafeRawBufferPointer) -> (HTTPRequest.Method?, String?) {
            func spells(_ text: StaticString) -> Bool {
                value.count == text.utf8CodeUnitCount && memcmp(value.baseAddress!, text.utf8Start, value.count) == 0
            }
            if spells("GET") { return (.get, nil) }
            if spells("POST") { return (.post, nil) }
            if spells("PATCH") { return (.patch, nil) }
            if spells("DELETE") { return (.delete, nil) }
            if spells("PUT") { return (.put, nil) }
            if spells("HEAD") { return (.head, nil) }
            if spells("OPTIONS") { return (.options, nil) }
            let text = String(decoding: value, as: UTF8.self)
            return (HTTPRequest.Method(text), text)
        }

        public func request() throws(MappingError) -> RequestHead {
            guard let parsed = method else {
                if let methodText { throw .invalidMethod(methodText) }
                throw .missingParameter("REQUEST_METHOD")
            }
            let path: String
            if let uri, !uri.isEmpty {
                path = uri
            } else if let scriptName {
                path = scriptName + ((query?.isEmpty ?? true) ? "" : "?" + query!)
            } else {
                throw .missingParameter("REQUEST_URI")
            }
            return RequestHead(method: parsed, scheme: https ? "https" : "http", authority: host, path: path, headerFields: fields)
        }
    }

    // Literals, not arrays: a global array is initialised lazily, checked on every read (~20 per request).
    private static var httpPrefix: StaticString { "HTTP_" }
    private static var hostSuffix: StaticString { "HOST" }

    /// The CGI variables the builder reads besides the `HTTP_*` headers.
    enum Variable: CaseIterable {
        case requestMethod, requestURI, scriptName, documentURI, queryString, https, contentType, contentLength

        var name: StaticString {
            switch self {
            case .requestMethod: "REQUEST_METHOD"
            case .requestURI: "REQUEST_URI"
            case .scriptName: "SCRIPT_NAME"
            case .documentURI: "DOCUMENT_URI"
            case .queryString: "QUERY_STRING"
            case .https: "HTTPS"
            case .contentType: "CONTENT_TYPE"
            case .contentLength: "CONTENT_LENGTH"
            }
        }

        /// Narrowed by length and first letter before any comparison: nginx passes ~20 parameters per
        /// request and most are none of these (a scan of every name per parameter was ~2 % of a get).
        init?(_ name: UnsafeRawBufferPointer) {
            let candidate: Variable
            switch (name.count, name.first) {
            case (14, UInt8(ascii: "R")): candidate = .requestMethod
            case (14, UInt8(ascii: "C")): candidate = .contentLength
            case (11, UInt8(ascii: "R")): candidate = .requestURI
            case (11, UInt8(ascii: "S")): candidate = .scriptName
            case (12, UInt8(ascii: "D")): candidate = .documentURI
            case (12, UInt8(ascii: "Q")): candidate = .queryString
            case (12, UInt8(ascii: "C")): candidate = .contentType
            case (5, UInt8(ascii: "H")): candidate = .https
            default: return nil
            }
            let text = candidate.name
            guard memcmp(text.utf8Start, name.baseAddress!, name.count) == 0 else { return nil }
            self = candidate
        }
    }

    /// `X_REQUEST_ID` (after `HTTP_`) → `x-request-id`, written byte by byte (CGI names are ASCII).
    static func headerName(fromParameter suffix: UnsafeRawBufferPointer) -> HTTPField.Name? {
        for (parameter, name) in knownHeaders where parameter.utf8CodeUnitCount == suffix.count {
            if memcmp(parameter.utf8Start, suffix.baseAddress!, suffix.count) == 0 { return name }
        }
        return headerName(spelling: suffix)
    }

    /// Headers most requests carry (nginx's request id, the token, a body's type and length, which nginx
    /// passes as `HTTP_` copies too) or that the API reads, their names made once: making one from the
    /// parameter (a `String`, a token check, a lowercased copy) cost ~600 instructions per header on every
    /// request, and ~900 for a copy that is then dropped.
    static let knownHeaders: [(parameter: StaticString, name: HTTPField.Name)] = [
        ("AUTHORIZATION", .authorization), ("X_REQUEST_ID", HTTPField.Name("X-Request-Id")!),
        ("CONTENT_TYPE", .contentType), ("CONTENT_LENGTH", .contentLength), ("ACCEPT", .accept),
        ("USER_AGENT", .userAgent), ("ACCEPT_ENCODING", .acceptEncoding), ("ACCEPT_LANGUAGE", .acceptLanguage),
        ("IF_MATCH", .ifMatch), ("IDEMPOTENCY_KEY", HTTPField.Name("Idempotency-Key")!), ("ORIGIN", .origin),
        ("LAST_EVENT_ID", HTTPField.Name("Last-Event-ID")!), ("REFERER", .referer), ("COOKIE", .cookie),
    ]

    static func headerName(spelling suffix: UnsafeRawBufferPointer) -> HTTPField.Name? {
        let text = String(unsafeUninitializedCapacity: suffix.count) { out in
            for (index, byte) in suffix.enumerated() {
                switch byte {
                case UInt8(ascii: "_"): out[index] = UInt8(ascii: "-")
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): out[index] = byte + 32
                default: out[index] = byte
                }
            }
            return suffix.count
        }
        return HTTPField.Name(text)
    }

    /// The CGI response head: a `Status:` line, the header fields, and the blank line.
    public static func responseHead(for response: ResponseHead) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(256)
        writeResponseHead(for: response) { head.append(contentsOf: $0) }
        return head
    }

    /// The head of `responseHead(for:)` handed to `put` piece by piece, each piece borrowed from where it
    /// already is (the field's name and value, a constant): the server puts them straight into libfcgi's
    /// output buffer. Appended into one array first, the head cost ~4.7 k instructions per response
    /// (bench/instructions.sh), most of it generic `append(contentsOf:)` calls.
    public static func writeResponseHead(for response: ResponseHead, to put: (UnsafeRawBufferPointer) -> Void) {
        let code = response.status.code  // 0...999 (HTTPResponse.Status enforces it): three digits
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 12) { line in
            line.baseAddress!.update(from: statusPrefix.utf8Start, count: 8)
            line[8] = UInt8(ascii: "0") + UInt8(code / 100)
            line[9] = UInt8(ascii: "0") + UInt8(code / 10 % 10)
            line[10] = UInt8(ascii: "0") + UInt8(code % 10)
            line[11] = UInt8(ascii: " ")
            put(UnsafeRawBufferPointer(line))
        }
        var reason = response.status.reasonPhrase
        reason.withUTF8 { put(UnsafeRawBufferPointer($0)) }
        put(crlf)
        for field in response.headerFields {
            var name = field.name.rawName
            name.withUTF8 { put(UnsafeRawBufferPointer($0)) }
            put(colonSpace)
            var value = field.value
            value.withUTF8 { put(UnsafeRawBufferPointer($0)) }
            put(crlf)
        }
        put(crlf)
    }

    private static let statusPrefix: StaticString = "Status: "
    private static var crlf: UnsafeRawBufferPointer { bytes(of: "\r\n") }
    private static var colonSpace: UnsafeRawBufferPointer { bytes(of: ": ") }
    /// A literal's bytes, where the binary keeps them.
    private static func bytes(of text: StaticString) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
    }
}
