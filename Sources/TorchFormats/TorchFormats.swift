// TorchFormats
