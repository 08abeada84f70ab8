public import HTTPTypes

/// A request's method, target and header fields, each value as the web server sent it: what the FastCGI
/// adapter makes of each request's parameters and hands the API.
///
/// Not an `HTTPRequest`: building one checked every header value byte by byte (a bearer token is ~200
/// bytes) and inserted each field through an unspecialized generic path, ~14 k of the ~100 k instructions
/// of a get (bench/README.md), for a handler that reads a handful of fields by name. A value that goes
/// back out in a response becomes an `HTTPField` there, which checks it. Responses stay `HTTPResponse`s.
public struct RequestHead: Sendable {
    public var method: HTTPRequest.Method
    /// "https" when the web server says the connection was TLS (`HTTPS`), else "http".
    public var scheme: String
    /// `Host`, as sent.
    public var authority: String?
    /// Path and query, as sent.
    public var path: String
    public var headerFields: Fields

    public init(method: HTTPRequest.Method, scheme: String = "http", authority: String? = nil, path: String, headerFields: Fields = Fields()) {
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
            headerFields: Fields(request.headerFields))
    }

    /// One header field.
    public struct Field: Sendable, Equatable {
        public var name: HTTPField.Name
        public var value: String

        public init(name: HTTPField.Name, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The header fields in the order they came, read by name.
    public struct Fields: Sendable, RandomAccessCollection {
        private var fields: [Field] = []

        public init() {}

        public init(_ fields: HTTPFields) {
            self.fields = fields.map { Field(name: $0.name, value: $0.value) }
        }

        public mutating func append(_ name: HTTPField.Name, _ value: String) { fields.append(Field(name: name, value: value)) }
        public mutating func reserveCapacity(_ capacity: Int) { fields.reserveCapacity(capacity) }

        public var startIndex: Int { fields.startIndex }
        public var endIndex: Int { fields.endIndex }
        public subscript(position: Int) -> Field { fields[position] }

        /// The first value of `name`: for the fields that are sent once (a web server passes each header
        /// it received; `Authorization`, `If-Match`, an idempotency key are single-valued).
        public func first(_ name: HTTPField.Name) -> String? {
            for field in fields where field.name == name { return field.value }
            return nil
        }

        /// Every value of `name` joined as `HTTPFields` joins them: with ", ", or "; " for `Cookie`.
        public subscript(name: HTTPField.Name) -> String? {
            var joined: String?
            for field in fields where field.name == name {
                if let text = joined { joined = text + (name == .cookie ? "; " : ", ") + field.value } else { joined = field.value }
            }
            return joined
        }
    }
}
