namespace VectorFit.Tests;

/// <summary>
/// libtorch has process-wide state (the default generator, grad mode, dispose scopes): every test that
/// touches it joins this collection, which runs serially.
/// </summary>
[CollectionDefinition("libtorch", DisableParallelization = true)]
public sealed class LibtorchCollection
{
}
