public import HTTPTypes

/// A request's method, target and header fields, each value as the web server sent it: what the FastCGI
/// adapter makes of each request's parameters and hands the API.
///
/// Not an `HTTPRequest`: building one checked every header value byte by byte (a bearer token is ~200
/// bytes) and inserted each field through an unspecialized generic path, ~14 k of the ~100 k instructions
/// of a get (bench/README.md), for a handler that reads a handful of fields by name. A value that goes
/// back out in a response is checked there (`HeaderFields.legal(_:)`).
public struct RequestHead: Sendable {
    public var method: HTTPRequest.Method
    /// "https" when the web server says the connection was TLS (`HTTPS`), else "http".
    public var scheme: String
    /// `Host`, as sent.
    public var authority: String?
    /// Path and query, as sent.
    public var path: String
    public var headerFields: HeaderFields

    public init(
        method: HTTPRequest.Method, scheme: String = "http", authority: String? = nil, path: String, headerFields: HeaderFields = HeaderFields()
    ) {
        self.method = method
        self.scheme = scheme
        self.authority = authority
        self.path = path
        self.headerFields = headerFields
    }

    /// The same request from an `HTTPRequest` (a test, or a caller that holds one).
    public init(_ request: HTTPRequest) {
        self.init(
            method: request.method, scheme: request.scheme ?? "http", authority: request.authority, path: request.path ?? "/",
            headerFields: HeaderFields(request.headerFields))
    }
}
