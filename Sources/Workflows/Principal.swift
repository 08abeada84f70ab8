#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

public enum Role: String, Sendable, CaseIterable, Hashable {
    case participant = "Participant"
    case viewer = "Viewer"
    case admin = "Admin"
    /// Decides on approval waits of other users' instances.
    case approver = "Approver"

    /// Hashed by its case, not by its raw-value text: every request asks a principal's role set.
    public func hash(into hasher: inout Hasher) { hasher.combine(caseTag(self)) }
}

/// The case of an enum without associated values, as its in-memory tag (one byte: such an enum is its
/// tag). Equal cases have equal tags, so hashing it is consistent with the synthesized `==`.
func caseTag<E: RawRepresentable & CaseIterable>(_ value: E) -> UInt8 {
    precondition(MemoryLayout<E>.size == 1)
    return withUnsafeBytes(of: value) { $0[0] }
}

/// The authenticated caller: who they are and what they may do.
public struct Principal: Sendable, Hashable {
    public let userId: UUID
    public let roles: Set<Role>
    /// `roles` as one bit per case: a request asks about roles several times, and `Set.contains` hashes.
    private let roleBits: UInt8

    public init(userId: UUID, roles: Set<Role>) {
        self.userId = userId
        self.roles = roles
        roleBits = roles.reduce(0) { $0 | Self.bit($1) }
    }

    private static func bit(_ role: Role) -> UInt8 { 1 << caseTag(role) }

    /// Whether the caller holds `role`.
    public func has(_ role: Role) -> Bool { roleBits & Self.bit(role) != 0 }

    public var isAdmin: Bool { has(.admin) }
    /// Any role lets a caller read (its own, or all for an Admin).
    public var canRead: Bool { roleBits != 0 }
    /// Participants act on their own instances; Admins on all.
    public var canAct: Bool { has(.participant) || isAdmin }

    /// Whose instances this caller may see (and, with a role that acts, change): its own, or everyone's
    /// (nil) for an Admin.
    public var ownerScope: UUID? { isAdmin ? nil : userId }

    /// Whether this caller may see the instance at all; others get "not found". Besides the owner and
    /// Admins, an Approver sees the instances that await their decision and those they decided on.
    public func canSee(_ instance: WorkflowInstance) -> Bool {
        if ownerScope.map({ $0 == instance.userId }) ?? true { return true }
        guard has(.approver) else { return false }
        return instance.decidedBy.contains(userId) || WorkflowActions.approvalRefusal(instance, by: self) == nil
    }
}

/// What an operation demands of the caller's roles. The API's route table names one per route, so the
/// role each operation needs is written down exactly once.
public enum Capability: Sendable, Hashable, CaseIterable {
    /// Any role: read its own instances (an Admin: all).
    case read
    /// Participant or Admin: create and change instances.
    case act
    /// Approver or Admin: decide on approval waits (who is eligible for which wait is the domain's rule).
    case approve
    /// Admin only: configuration of the service itself (webhook subscriptions).
    case administer

    public func allows(_ principal: Principal) -> Bool {
        switch self {
        case .read: principal.canRead
        case .act: principal.canAct
        case .approve: principal.has(.approver) || principal.isAdmin
        case .administer: principal.isAdmin
        }
    }

    /// The roles that grant it, for documentation and refusals.
    public var roles: [Role] {
        switch self {
        case .read: [.participant, .viewer, .admin, .approver]
        case .act: [.participant, .admin]
        case .approve: [.approver, .admin]
        case .administer: [.admin]
        }
    }

    /// Why a caller without it is refused, in words a person can read.
    public var refusal: String {
        switch self {
        case .read: "The token carries none of the roles Participant, Viewer, Approver or Admin."
        case .act: "This action needs the Participant or Admin role."
        case .approve: "Deciding on an approval needs the Approver or Admin role."
        case .administer: "This operation needs the Admin role."
        }
    }
}
