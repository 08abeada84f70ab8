public import HTTPTypes
#if canImport(Glibc)
import Glibc
#endif

/// Turns FastCGI (CGI/1.1) parameters into an `HTTPRequest`, and an `HTTPResponse` into a CGI response head.
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
    public static func request(from params: [(String, String)]) throws(MappingError) -> HTTPRequest {
        var methodText: String?
        var uri: String?
        var scriptName: String?
        var query: String?
        var https = false
        var host: String?
        var fields = HTTPFields()
        for (name, value) in params {
            switch name {
            case "REQUEST_METHOD": methodText = value
            case "REQUEST_URI": uri = value
            case "SCRIPT_NAME", "DOCUMENT_URI": scriptName = scriptName ?? value
            case "QUERY_STRING": query = value
            case "HTTPS": https = !value.isEmpty && value.lowercased() != "off"
            case "CONTENT_TYPE": if !value.isEmpty { fields.append(HTTPField(name: .contentType, value: value)) }
            case "CONTENT_LENGTH": if !value.isEmpty { fields.append(HTTPField(name: .contentLength, value: value)) }
            default:
                guard name.hasPrefix("HTTP_"), let fieldName = headerName(fromParameter: name) else { continue }
                if fieldName.canonicalName == "host" {
                    host = value  // carried as the authority, not as a header field
                    continue
                }
                // Content-Type/Length come from their CGI variables; a duplicate HTTP_ copy is ignored.
                if fieldName == .contentType || fieldName == .contentLength { continue }
                fields.append(HTTPField(name: fieldName, value: value))
            }
        }
        guard let methodText else { throw .missingParameter("REQUEST_METHOD") }
        guard let method = HTTPRequest.Method(methodText) else { throw .invalidMethod(methodText) }
        let path: String
        if let uri, !uri.isEmpty {
            path = uri
        } else if let scriptName {
            path = scriptName + ((query?.isEmpty ?? true) ? "" : "?" + query!)
        } else {
            throw .missingParameter("REQUEST_URI")
        }
        return HTTPRequest(method: method, scheme: https ? "https" : "http", authority: host, path: path, headerFields: fields)
    }

    /// The CGI variables `request(from:)` reads besides the `HTTP_*` headers.
    static let mappedVariables: [[UInt8]] = [
        "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "DOCUMENT_URI", "QUERY_STRING", "HTTPS", "CONTENT_TYPE", "CONTENT_LENGTH",
    ].map { Array($0.utf8) }

    /// Whether `request(from:)` reads the parameter named `name` (raw bytes): the server copies only those
    /// into Swift strings. nginx's fastcgi_params sends a dozen more (SERVER_SOFTWARE, REMOTE_PORT, …)
    /// that would cost two string allocations each on every request.
    public static func isMapped(_ name: UnsafeRawBufferPointer) -> Bool {
        if name.count > 5, name[0] == UInt8(ascii: "H"), name[1] == UInt8(ascii: "T"), name[2] == UInt8(ascii: "T"),
            name[3] == UInt8(ascii: "P"), name[4] == UInt8(ascii: "_")
        {
            return true
        }
        for variable in mappedVariables where variable.count == name.count {
            if variable.withUnsafeBytes({ memcmp($0.baseAddress!, name.baseAddress!, name.count) }) == 0 { return true }
        }
        return false
    }

    /// `HTTP_X_REQUEST_ID` → `x-request-id` (byte-wise: CGI names are ASCII).
    static func headerName(fromParameter parameter: String) -> HTTPField.Name? {
        let raw = parameter.utf8.dropFirst(5).map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "_"): return UInt8(ascii: "-")
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte + 32
            default: return byte
            }
        }
        return HTTPField.Name(String(decoding: raw, as: UTF8.self))
    }

    /// The CGI response head: a `Status:` line, the header fields, and the blank line. Appended as bytes
    /// into one array: built as a String with interpolations it cost a temporary per field (~8 allocations
    /// on every response).
    public static func responseHead(for response: HTTPResponse) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(256)
        head.append(contentsOf: "Status: ".utf8)
        let code = response.status.code  // 0...999 (HTTPResponse.Status enforces it): three digits
        head.append(UInt8(ascii: "0") + UInt8(code / 100))
        head.append(UInt8(ascii: "0") + UInt8(code / 10 % 10))
        head.append(UInt8(ascii: "0") + UInt8(code % 10))
        head.append(UInt8(ascii: " "))
        head.append(contentsOf: response.status.reasonPhrase.utf8)
        head.append(contentsOf: crlf)
        for field in response.headerFields {
            head.append(contentsOf: field.name.rawName.utf8)
            head.append(contentsOf: colonSpace)
            head.append(contentsOf: field.value.utf8)
            head.append(contentsOf: crlf)
        }
        head.append(contentsOf: crlf)
        return head
    }

    private static let crlf: [UInt8] = [13, 10]
    private static let colonSpace: [UInt8] = [UInt8(ascii: ":"), UInt8(ascii: " ")]
}
