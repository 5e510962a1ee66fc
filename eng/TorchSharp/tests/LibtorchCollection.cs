namespace TorchSharp.Binding.Tests;

/// libtorch has global state (seed, grad mode, threads): the binding's tests run serially.
[CollectionDefinition("libtorch", DisableParallelization = true)]
public class LibtorchCollection { }
