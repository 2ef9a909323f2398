import Pipeline
print(SegpipeVersion.string)
