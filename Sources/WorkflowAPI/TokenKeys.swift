import Foundation
import Glibc

/// Why a set of keys was not loaded. The text names the setting and file and never contains a secret.
public struct TokenKeyError: Error, Equatable, CustomStringConvertible {
    public let description: String
    /// The file at fault, when the keys came from one.
    public let path: String?

    init(_ description: String, path: String? = nil) {
        self.description = description
        self.path = path
    }
}

/// The keys themselves, with where they came from (for error messages).
public struct TokenKeyMaterial: Sendable, Equatable {
    /// HS256 secrets, each at least 32 bytes: the current one first, then during a rotation the previous.
    public var hmacSecrets: [String]
    /// A JWKS document with RS256/ES256 public keys, each with a `kid`.
    public var jwksJSON: String?
    var hmacSource = "WORKFLOWD_JWT_SECRET"
    var hmacPath: String?
    var jwksSource = "the JWKS"
    var jwksPath: String?

    public init(hmacSecrets: [String], jwksJSON: String? = nil) {
        self.hmacSecrets = hmacSecrets
        self.jwksJSON = jwksJSON
    }
}

/// Where the keys are read from, at start and again on every reload (SIGHUP). A secret given as a value
/// (the environment or a flag) cannot be re-read by a running process: it stays as it was.
public struct TokenKeySources: Sendable {
    public enum Secret: Sendable, Equatable {
        case value(String)
        /// One secret per line: the current one, then optionally the previous one. Blank lines and the
        /// whitespace around each secret are ignored (files usually end with a newline).
        case file(path: String)
    }

    public var secret: Secret
    public var jwksFile: String?

    /// Files larger than this are refused rather than read: a path pointing at the wrong thing (a device,
    /// a log) must not take the process's memory.
    static let maxFileBytes = 1 << 20

    public init(secret: Secret, jwksFile: String? = nil) {
        self.secret = secret
        self.jwksFile = jwksFile
    }

    /// Whether a reload reads the HS256 secret anew.
    public var rereadsSecret: Bool {
        if case .file = secret { return true }
        return false
    }

    /// Reads the files now. Nothing is validated beyond reading: `TokenVerifier` checks the keys.
    public func read() throws(TokenKeyError) -> TokenKeyMaterial {
        var material: TokenKeyMaterial
        switch secret {
        case .value(let value):
            material = TokenKeyMaterial(hmacSecrets: [value])
        case .file(let path):
            let secrets = try Self.readText(path, setting: "WORKFLOWD_JWT_SECRET_FILE").split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard secrets.count <= 2 else {
                throw TokenKeyError(
                    "WORKFLOWD_JWT_SECRET_FILE \(path) holds \(secrets.count) secrets; give one, or two (current, then previous) while rotating",
                    path: path)
            }
            material = TokenKeyMaterial(hmacSecrets: secrets)
            material.hmacSource = "WORKFLOWD_JWT_SECRET_FILE \(path)"
            material.hmacPath = path
        }
        if let jwksFile {
            material.jwksJSON = try Self.readText(jwksFile, setting: "WORKFLOWD_JWKS_FILE")
            material.jwksSource = "WORKFLOWD_JWKS_FILE \(jwksFile)"
            material.jwksPath = jwksFile
        }
        return material
    }

    /// The whole file as UTF-8, or an error with the system's reason (no such file, permission denied).
    static func readText(_ path: String, setting: String) throws(TokenKeyError) -> String {
        func refuse(_ reason: String) -> TokenKeyError { TokenKeyError("cannot read \(setting) \(path): \(reason)", path: path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw refuse(String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw refuse(String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes += buffer[..<count]
            guard bytes.count <= maxFileBytes else { throw refuse("larger than \(maxFileBytes) bytes") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw refuse("not UTF-8 text") }
        return text
    }
}

extension DecodingError {
    /// The decoder's own explanation and where it stopped, without the nested context dump of `description`.
    var reason: String {
        switch self {
        case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(self)"
        }
    }
}
