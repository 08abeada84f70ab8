public import HTTPTypes

/// A response's status and header fields, as the API hands them to the FastCGI adapter, which writes them
/// as the CGI head (`Status:` line, fields, blank line).
///
/// Not an `HTTPResponse`: that stores its status as a pseudo-header's text (formatted, checked, and parsed
/// back when read) and its fields in `HTTPFields`, whose values are checked byte by byte (HeaderFields).
public struct ResponseHead: Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var headerFields: HeaderFields

    public init(status: HTTPResponse.Status, headerFields: HeaderFields = HeaderFields()) {
        self.status = status
        self.headerFields = headerFields
    }

    /// The same response from an `HTTPResponse` (a test, or a caller that holds one).
    public init(_ response: HTTPResponse) {
        self.init(status: response.status, headerFields: HeaderFields(response.headerFields))
    }

    /// This head as an `HTTPResponse` (tests, and callers that work in `HTTPTypes`); each value is checked.
    public var httpResponse: HTTPResponse {
        var fields = HTTPFields()
        for field in headerFields { fields.append(HTTPField(name: field.name, value: field.value)) }
        return HTTPResponse(status: status, headerFields: fields)
    }
}
