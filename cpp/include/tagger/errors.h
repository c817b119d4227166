// Typed exceptions. Each class maps one-to-one onto a Python class of the same
// name in tagger.errors (the bindings look the class up by kind()).
#pragma once

#include <stdexcept>
#include <string>

namespace tagger {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  virtual const char* kind() const noexcept { return "TaggerError"; }
};

#define TAGGER_DEFINE_ERROR(Name, Base)                                  \
  class Name : public Base {                                             \
   public:                                                               \
    using Base::Base;                                                    \
    const char* kind() const noexcept override { return #Name; }         \
  };

// Every error kind and its base, in one list (the bindings walk it too).
#define TAGGER_ERROR_KINDS(X) \
  /* Caller mistakes: bad sizes, bad values, misuse of an API. */ \
  X(InvalidArgument, Error) \
  X(InvalidKey, InvalidArgument) \
  X(DecodeError, Error) \
  /* Crypto outcomes. */ \
  X(InvalidSignature, Error) \
  X(DecryptionFailed, Error) \
  X(CryptoError, Error) /* the library itself failed (out of memory, RNG) */ \
  /* Ledger and contracts. */ \
  X(LedgerError, Error) \
  X(CorruptLedger, LedgerError) \
  X(LedgerLocked, LedgerError) \
  X(TransactionRejected, LedgerError) \
  X(BadNonce, TransactionRejected) \
  X(WrongChain, TransactionRejected) \
  X(InsufficientFunds, TransactionRejected) \
  X(AmountOverflow, TransactionRejected) \
  X(NotOwner, TransactionRejected) \
  X(NotAuthorized, TransactionRejected) \
  X(UnknownAccount, TransactionRejected) \
  X(RuleViolation, TransactionRejected) \
  X(InvalidTransaction, TransactionRejected) /* differs from what the ledger re-executes */ \
  /* Pipeline stages. */ \
  X(VerificationFailed, Error) \
  X(InfeasibleAssignment, Error) \
  X(ConsensusError, Error) \
  X(TaskStateError, Error) \
  X(IncompleteTask, TaskStateError) /* items or answer slots are still missing */ \

TAGGER_ERROR_KINDS(TAGGER_DEFINE_ERROR)

}  // namespace tagger
