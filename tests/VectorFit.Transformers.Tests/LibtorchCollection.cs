namespace VectorFit.Transformers.Tests;

/// <summary>
/// libtorch has process-wide state (the default generator, grad mode, thread count): every test that touches
/// it joins this collection, which runs serially.
/// </summary>
[CollectionDefinition("libtorch", DisableParallelization = true)]
public sealed class LibtorchCollection
{
}
