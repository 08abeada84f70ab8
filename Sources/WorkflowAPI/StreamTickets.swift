import Crypto
import Foundation
import TextCoding
import Workflows

/// Short-lived, single-purpose credentials for opening a stream from a browser, whose `EventSource`
/// cannot send `Authorization`. `POST /api/v1/stream-tickets` (with the bearer token) returns one; it goes
/// in the stream URL as `?ticket=`, opens streams only (no other route accepts it), for `lifetime` after it
/// was made, and the stream it opens still ends when the token it was made from expires. A ticket that
/// reaches a log is useless a minute later; the long-lived token never enters a URL.
///
/// A ticket is `v1.<payload>.<mac>` (base64url): user, roles, the ticket's and the token's expiry, signed
/// with HMAC-SHA256 under a key derived from the JWT secret, so every workflowd process sharing that
/// secret accepts it and a ticket is never a valid JWT. The keys follow the verifier's HS256 secrets
/// (`TokenVerifier.ticketKeys`): a ticket is made with the current one and accepted under the previous one
/// too while a rotation lasts; once a reload (SIGHUP) drops a secret, its tickets open nothing.
struct StreamTickets: Sendable {
    static let lifetime: TimeInterval = 60
    /// The keys in use, current first; asked on every use, so a reload takes effect at once.
    private let keys: @Sendable () -> [SymmetricKey]

    init(keys: @escaping @Sendable () -> [SymmetricKey]) {
        self.keys = keys
    }

    /// Fixed keys, from secrets current first.
    init(secrets: [String]) {
        let keys = secrets.map(Self.key(secret:))
        self.init { keys }
    }

    /// The ticket key of an HS256 secret: derived from it, so that it never verifies a JWT.
    static func key(secret: String) -> SymmetricKey {
        SymmetricKey(data: HMAC<SHA256>.authenticationCode(
            for: Array("workflowd stream ticket v1".utf8), using: SymmetricKey(data: Array(secret.utf8))))
    }

    struct Claims: Equatable {
        let principal: Principal
        let ticketExpires: Date
        let tokenExpires: Date
    }

    func make(for principal: Principal, tokenExpires: Date, now: Date = Date()) -> (ticket: String, expires: Date) {
        let expires = min(now.addingTimeInterval(Self.lifetime), tokenExpires)
        let roles = principal.roles.map(\.rawValue).sorted().joined(separator: "+")
        let payload = "\(principal.userId.lowercaseText)|\(roles)|\(Int64(expires.timeIntervalSince1970))|\(Int64(tokenExpires.timeIntervalSince1970))"
        let encoded = Base64URL.encode(payload.utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(encoded.utf8), using: keys()[0])
        return ("v1.\(encoded).\(Base64URL.encode(mac))", expires)
    }

    func verify(_ ticket: String, now: Date = Date()) throws(AuthenticationError) -> Claims {
        let parts = ticket.split(separator: ".", omittingEmptySubsequences: false)
        guard ticket.utf8.count <= 512, parts.count == 3, parts[0] == "v1", let sent = Base64URL.decode(parts[2]),
            keys().contains(where: { HMAC<SHA256>.isValidAuthenticationCode(sent, authenticating: Array(parts[1].utf8), using: $0) }),
            let payload = Base64URL.decode(parts[1])
        else { throw AuthenticationError("The stream ticket is not valid.") }
        let fields = String(decoding: payload, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
        guard fields.count == 4, let user = UUID(text: fields[0]), let ticketExpires = Int64(fields[2]), let tokenExpires = Int64(fields[3])
        else { throw AuthenticationError("The stream ticket is not valid.") }
        guard Double(ticketExpires) > now.timeIntervalSince1970 else {
            throw AuthenticationError("The stream ticket has expired; get a new one with POST /api/v1/stream-tickets.")
        }
        let roles = Set(fields[1].split(separator: "+").compactMap { Role(rawValue: String($0)) })
        return Claims(
            principal: Principal(userId: user, roles: roles), ticketExpires: Date(timeIntervalSince1970: Double(ticketExpires)),
            tokenExpires: Date(timeIntervalSince1970: Double(tokenExpires)))
    }
}
