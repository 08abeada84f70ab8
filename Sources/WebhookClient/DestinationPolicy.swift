#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Dotted IPv4 or textual IPv6 (brackets allowed).
    public init?(_ text: some StringProtocol) {
        var literal = String(text)
        if literal.hasPrefix("["), literal.hasSuffix("]") { literal = String(literal.dropFirst().dropLast()) }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, literal, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), which connects to that IPv4 host.
    public var unmapped: IPAddress {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return self }
        return IPAddress(bytes: Array(bytes[12...]))!
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        bytes.withUnsafeBytes { raw in
            _ = inet_ntop(bytes.count == 4 ? AF_INET : AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An address block in CIDR notation (`10.0.0.0/8`, `fe80::/10`; a bare address is a single host).
public struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let maximum = address.bytes.count * 8
        var length = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value) else { return nil }
            length = value
        }
        network = address
        prefixLength = length
    }

    public func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        for (a, b) in zip(address.bytes, network.bytes) where remaining > 0 {
            let bits = min(remaining, 8)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if a & mask != b & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(network)/\(prefixLength)" }
}

/// Where deliveries may connect. Public addresses are allowed; loopback, private, link-local and other
/// special-purpose ranges are refused (server-side request forgery into the operator's network) unless
/// the allow-list names the address's range or the URL's host. The check runs on the address curl is
/// about to connect to, after name resolution, so a name that resolves to a refused address is refused.
public struct DestinationPolicy: Sendable, Hashable {
    public let allowedHosts: Set<String>
    public let allowedRanges: [AddressRange]

    /// Refused unless allowed explicitly.
    public static let refusedRanges: [AddressRange] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96", "2002::/16",
    ].map { AddressRange($0)! }

    public struct InvalidEntry: Error, CustomStringConvertible {
        public let entry: String
        public var description: String { "\"\(entry)\" is neither a host name, an IP address nor a CIDR block" }
    }

    public init(allowedHosts: Set<String> = [], allowedRanges: [AddressRange] = []) {
        self.allowedHosts = allowedHosts
        self.allowedRanges = allowedRanges
    }

    /// `WORKFLOWD_WEBHOOK_ALLOW`: host names, addresses and CIDR blocks separated by commas or spaces.
    public init(allowList: String) throws(InvalidEntry) {
        var hosts: Set<String> = []
        var ranges: [AddressRange] = []
        for entry in allowList.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" || $0 == "\n" }) {
            if let range = AddressRange(entry) {
                ranges.append(range)
            } else if !entry.contains("/"), Self.isHostName(entry) {
                hosts.insert(entry.lowercased())
            } else {
                throw InvalidEntry(entry: String(entry))
            }
        }
        self.init(allowedHosts: hosts, allowedRanges: ranges)
    }

    static func isHostName(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.count <= 253
            && text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E }
    }

    public func permits(host: String, address: IPAddress) -> Bool {
        let address = address.unmapped
        if allowedRanges.contains(where: { $0.contains(address) }) { return true }
        if allowedHosts.contains(host.lowercased()) { return true }
        return !Self.refusedRanges.contains { $0.contains(address) }
    }
}
