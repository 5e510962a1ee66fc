// GLUE fine-tuning with VectorFit: the command-line entry point.
Console.WriteLine("GlueFineTune: under construction.");
return 0;
