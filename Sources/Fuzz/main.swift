func LLVMFuzzerPlaceholder() {}
