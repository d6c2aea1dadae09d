// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IERC7540Claims
/// @notice The part of an ERC-7540 vault the relay uses: what a controller may claim, and the two
///         claims that take it whole (RWAVault implements all four).
interface IERC7540Claims {
    function maxDeposit(address controller) external view returns (uint256 assets);
    function maxRedeem(address controller) external view returns (uint256 shares);
    function deposit(uint256 assets, address receiver, address controller) external returns (uint256 shares);
    function redeem(uint256 shares, address receiver, address controller) external returns (uint256 assets);
}

/// @title IClaimRelay
/// @notice Claims a controller's settled ERC-7540 requests, for anyone who asks, and pays them to
///         that controller only.
/// @dev Why it exists: ERC-7540 lets only a controller or its operator claim, and an operator may
///      do everything the controller can (request the redemption of all its shares with itself as
///      controller, spend its asset allowance on a request it controls, claim to itself). A
///      depositor who wants a keeper to claim for it makes this relay its operator instead of the
///      keeper's key: the relay's only action is `claim(controller)`, which takes the whole of what
///      `maxDeposit(controller)` and `maxRedeem(controller)` report, with `controller` as receiver.
///      So the approval grants nothing but being paid one's own claims early, and any keeper (or
///      anyone) can serve every such depositor. Assumptions:
///      - `vault` is fixed at deployment; the relay holds nothing and keeps no state, so a token
///        sent to it by mistake stays there (no function moves it);
///      - the vault checks the operator approval and re-checks the amounts; the relay adds nothing
///        a caller can choose but `controller`;
///      - a controller that revokes the approval (`setOperator(relay, false)`) stops it at once;
///      - claims cost the controller nothing: a whole claim takes exactly what the controller's
///        settled requests are worth at their strikes, no rounding against it.
interface IClaimRelay {
    /// @notice `caller` claimed for `controller`: `shares` of its settled deposits and `assets` of
    ///         its filled redemptions, both paid to `controller`.
    event Claimed(address indexed controller, address indexed caller, uint256 shares, uint256 assets);

    error ZeroAddress();
    /// @notice `controller` has nothing to claim: no settled deposit, no filled redemption (another
    ///         caller may have claimed it first).
    error NothingToClaim(address controller);
    /// @notice A claim of `controller`'s failed without a reason (out of gas, a token reverting
    ///         without data): nothing was claimed, what it may claim is unchanged.
    error ClaimFailed(address controller);

    /// @notice The vault whose claims this relay sends.
    function vault() external view returns (IERC7540Claims);

    /// @notice Claims all of `controller`'s settled deposits (shares) and filled redemptions
    ///         (assets), paid to `controller`, each part on its own: a part the vault refuses
    ///         leaves the other claimed. Anyone may call it; it reverts when nothing was claimed,
    ///         with the vault's reason for a refused part (`NotOperator` unless `controller` made
    ///         this relay its operator), `ClaimFailed` for a part that failed without one, and
    ///         `NothingToClaim` when there was nothing to claim.
    function claim(address controller) external returns (uint256 shares, uint256 assets);
}
