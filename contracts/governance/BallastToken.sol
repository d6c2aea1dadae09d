// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Time} from "@openzeppelin/contracts/utils/types/Time.sol";

/// @title BallastToken
/// @notice The governance token: ERC20 + Permit + Votes, with the whole supply minted once at
///         deployment to the holders the deploy config names. No further minting exists.
/// @dev Votes are checkpointed by timestamp (ERC-6372 `mode=timestamp`), so governance delays
///      are configured in seconds. Votes count only once a holder delegates (to itself or to
///      another address): ERC20Votes counts nothing before that. Checkpoints make
///      flash-acquired tokens useless for voting: a proposal reads votes at its snapshot.
contract BallastToken is ERC20, ERC20Permit, ERC20Votes {
    /// @notice `holders` and `amounts` differ in length.
    error DistributionLengthMismatch(uint256 holders, uint256 amounts);

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param holders Initial holders.
    /// @param amounts Amount minted to each holder (18 decimals).
    constructor(string memory name_, string memory symbol_, address[] memory holders, uint256[] memory amounts)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
    {
        if (holders.length != amounts.length) revert DistributionLengthMismatch(holders.length, amounts.length);
        for (uint256 i = 0; i < holders.length; i++) {
            _mint(holders[i], amounts[i]);
        }
    }

    /// @notice The clock votes are checkpointed by: the block timestamp.
    function clock() public view override returns (uint48) {
        return Time.timestamp();
    }

    /// @notice ERC-6372 clock description.
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
